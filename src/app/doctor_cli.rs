//! `provenant doctor`: the checklist for the installation the settings describe (the same
//! flags and `PROVENANT_*` variables as the server's), printed; exit code 0 when everything
//! is fine, 1 when something is not, 2 when the checks could not run.

use std::sync::Arc;

use crate::app::config::{Settings, TlsSource};
use crate::db;
use crate::doctor::{Check, Subject};
use crate::domain::hosts::AllowedHosts;
use crate::domain::secrets::SecretBox;

/// Runs the checks and prints them; the process's exit code.
pub async fn run(settings: Settings) -> i32 {
    match tokio::task::spawn_blocking(move || checklist(&settings)).await {
        Ok(Ok(checks)) => {
            print!("{}", crate::doctor::render(&checks));
            if checks.iter().all(|c| c.ok) { 0 } else { 1 }
        }
        Ok(Err(why)) => {
            println!("✘ {why}");
            println!("the checks could not run");
            2
        }
        Err(e) => {
            println!("✘ the checks stopped: {e}");
            2
        }
    }
}

/// The checklist; an error when there is nothing to check (no database to open).
fn checklist(settings: &Settings) -> Result<Vec<Check>, String> {
    let data_dir = settings.data_dir.clone();
    let database = match (&settings.database_url, &data_dir) {
        (Some(url), _) => {
            db::Location::postgres(url.as_str()).map_err(|e| format!("--database-url: {e:#}"))?
        }
        (None, Some(folder)) => db::Location::in_data_dir(folder),
        (None, None) => return Err("no data folder and no --database-url: nothing to check".into()),
    };
    let (pool, schema_version) = db::open_as_is(&database)
        .map_err(|e| format!("database {}: cannot be opened: {e:#}", database.describe()))?;
    let mut pre = Vec::new();
    let secrets = match SecretBox::load(data_dir.as_deref(), settings.master_key.as_deref()) {
        Ok(found) => found.map(Arc::new),
        Err(e) => {
            pre.push(Check::fail(
                "master key",
                format!("cannot be read: {e:#}"),
                "give the server's --master-key, or run doctor on its data folder",
            ));
            None
        }
    };
    let api_token = crate::domain::auth::load(data_dir.as_deref(), settings.api_token.as_deref());
    let trusted = if schema_version == db::migrate::CURRENT_VERSION {
        pool.get()
            .ok()
            .and_then(|p| db::hosts::trusted(p.conn()).ok())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let allowed_hosts = Arc::new(AllowedHosts::new(
        settings.egress_allow.iter().cloned().chain(trusted),
    ));
    let certificate = match &settings.tls {
        None => None,
        Some(TlsSource::Files(files)) => Some(files.load().map(|l| l.about)),
        Some(TlsSource::Acme(_)) => Some(match data_dir.as_deref() {
            Some(folder) => crate::tls::acme::kept_certificate(folder),
            None => Err("no data folder for the ACME certificate".to_string()),
        }),
    };
    let subject = Subject {
        database,
        pool: Some(pool),
        schema_version,
        data_dir,
        secrets,
        api_token,
        public_url: settings.public_url_for(settings.listen),
        certificate,
        allowed_hosts,
        clock: settings.clock.clone(),
    };
    pre.extend(crate::doctor::examine(&subject));
    Ok(pre)
}
