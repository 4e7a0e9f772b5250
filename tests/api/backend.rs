//! Which storage backend the suite runs on: SQLite by default; PostgreSQL when
//! `PROVENANT_TEST_DATABASE_URL` names a database (`.ci/run` sets it, with
//! `PROVENANT_REQUIRE_POSTGRES=1`, for a second pass of the API and binary suites).

use provenant::db::sql::params;

use crate::helpers::*;

#[test]
fn the_suite_runs_on_the_backend_it_was_asked_for() {
    let on_postgres = provenant::db::testing::is_postgres();
    if !on_postgres {
        assert!(
            std::env::var_os("PROVENANT_REQUIRE_POSTGRES").is_none(),
            "PROVENANT_REQUIRE_POSTGRES is set, but PROVENANT_TEST_DATABASE_URL is not"
        );
        eprintln!(
            "the PostgreSQL pass is skipped: set PROVENANT_TEST_DATABASE_URL to a database \
             (.ci/run starts a throw-away cluster for it)"
        );
    }
    let app = TestApp::spawn();
    let id = app.create_integration_id("WEBHOOK", serde_json::json!({}));
    let stored: String = app
        .db()
        .query_row(
            "SELECT id FROM integrations WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .expect("the integration, where the server stored it");
    assert_eq!(stored, id);
    // On PostgreSQL the data folder holds no database file.
    assert_eq!(
        app.data_dir.join("provenant.db").exists(),
        !on_postgres,
        "{}",
        app.data_dir.display()
    );
}
