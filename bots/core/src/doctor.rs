//! The vocabulary of `kraft doctor`: one [`Check`] per thing a deployment
//! needs (configuration, state database, index, endpoints, each chat
//! platform's token and adviser rights), with a status and one line that
//! says what is wrong and how to fix it. Each part checks itself (the
//! front-end crates check their platform); the binary prints the list.
//! Lines never hold a token or a message: only ids, names and rights.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Works, but something a user or adviser would miss is off.
    Warn,
    /// This part will not work as configured.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: "telegram token", "state database", …
    pub what: String,
    pub status: Status,
    /// One line: what was found, and for a warning or failure what to do.
    pub detail: String,
}

impl Check {
    pub fn ok(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(what, Status::Ok, detail)
    }
    pub fn warn(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(what, Status::Warn, detail)
    }
    pub fn fail(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(what, Status::Fail, detail)
    }
    fn new(what: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            status,
            detail: detail.into(),
        }
    }

    /// `ok   telegram token: accepted, the bot is @kraft_bot`.
    pub fn line(&self) -> String {
        let s = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        format!("{s} {}: {}", self.what, self.detail)
    }
}

/// The worst status among `checks` (Ok for none).
pub fn worst(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_decides() {
        let all = vec![
            Check::ok("a", "fine"),
            Check::warn("b", "hm"),
            Check::ok("c", "fine"),
        ];
        assert_eq!(worst(&all), Status::Warn);
        assert_eq!(worst(&[]), Status::Ok);
        let mut all = all;
        all.push(Check::fail("d", "broken"));
        assert_eq!(worst(&all), Status::Fail);
        assert_eq!(all[3].line(), "FAIL d: broken");
    }
}
