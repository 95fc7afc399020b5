//! A fresh PostgreSQL database per test, on the server that
//! `TEST_POSTGRES_URL` points at (`tests/run` starts one from
//! Debian's packages on a loopback port chosen at run time). Without the
//! variable, the PostgreSQL half of a check is skipped, loudly, once per
//! test binary.

use std::sync::Once;

/// The client the checks use to look into a test database directly.
pub use postgres;

/// The variable naming the server's admin database, e.g.
/// `postgres://postgres@127.0.0.1:54321/postgres`.
pub const URL_VAR: &str = "TEST_POSTGRES_URL";

/// A database made for one test and dropped after it.
#[derive(Debug)]
pub struct TestDb {
    admin: String,
    name: String,
    /// Connection URL of the fresh database.
    pub url: String,
}

/// The admin URL, or `None` after saying loudly (once) why the PostgreSQL
/// checks are skipped and how to run them.
pub fn server(what: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                crate::loud(&format!(
                    "SKIPPED: {what} on PostgreSQL: {URL_VAR} is not set. Run ./tests/run \
                     (it starts a PostgreSQL from Debian's packages), or set {URL_VAR} to an \
                     admin URL such as postgres://postgres@127.0.0.1:5432/postgres."
                ))
            });
            None
        }
    }
}

/// `url` with its database name replaced by `db` (URL or key=value form).
pub fn with_database(url: &str, db: &str) -> String {
    if let Some(scheme) = url.find("://") {
        let rest = scheme + 3;
        let query = url[rest..].find('?').map_or(url.len(), |i| rest + i);
        let path = url[rest..query].find('/').map_or(query, |i| rest + i);
        format!("{}/{db}{}", &url[..path], &url[query..])
    } else {
        // key=value: a later key wins.
        format!("{url} dbname={db}")
    }
}

impl TestDb {
    /// Creates a uniquely named database on the server at `admin`.
    pub fn create(admin: &str) -> TestDb {
        let name = format!("kraft_test_{}", uuid::Uuid::new_v4().simple());
        let mut c = postgres::Client::connect(admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("{URL_VAR} is set but the server is not reachable: {e}"));
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create a test database");
        TestDb {
            url: with_database(admin, &name),
            admin: admin.to_string(),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // FORCE: a store still holding connections does not keep it.
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_in_both_url_forms() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5/postgres", "x"),
            "postgres://u@127.0.0.1:5/x"
        );
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5/postgres?sslmode=disable", "x"),
            "postgres://u@127.0.0.1:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            with_database("host=h user=u", "x"),
            "host=h user=u dbname=x"
        );
    }
}
