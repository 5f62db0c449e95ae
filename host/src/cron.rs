//! Cron triggers: one task per `[[trigger.cron]]`, calling the component's
//! `handle-cron-event` on its 6-field (seconds first) schedule, in UTC as Spin's cron plugin does.
//!
//! A tick runs to completion before the next one is computed from the current time, so a slow
//! tick skips the ticks it overlapped instead of piling them up.

use crate::bindings::cron::fermyon::spin_cron::cron_types::Error as CronError;
use crate::bindings::cron::fermyon::spin_cron::cron_types::Metadata;
use crate::bindings::cron::SpinCronPre;
use crate::state::{ComponentCtx, HostState};
use anyhow::{anyhow, Result};
use chrono::Utc;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use std::sync::Arc;
use tokio::sync::watch;
use wasmtime::Store;

/// Parses a 6-field cron expression with seconds (`0 */5 * * * *`).
pub fn parse_schedule(expression: &str) -> Result<Cron> {
    if expression.split_whitespace().count() != 6 {
        return Err(anyhow!(
            "cron_expression \"{expression}\" must have 6 fields: seconds minutes hours day-of-month month day-of-week"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(expression)
        .map_err(|e| anyhow!("cron_expression \"{expression}\" is invalid: {e}"))
}

/// One scheduled component, ready to fire.
pub struct CronJob {
    /// The parsed schedule.
    pub schedule: Cron,
    /// The expression as written, for log lines.
    pub expression: String,
    /// The pre-instantiated component.
    pub pre: SpinCronPre<HostState>,
    /// The component's context.
    pub component: Arc<ComponentCtx>,
}

impl CronJob {
    /// Fires on schedule until `shutdown` turns true; a tick in progress is finished first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let now = Utc::now();
            let next = match self.schedule.find_next_occurrence(&now, false) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!(
                        "[{}] cron \"{}\" has no next time: {e}",
                        self.component.id, self.expression
                    );
                    return;
                }
            };
            let wait = (next - now).to_std().unwrap_or_default();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let timestamp = u64::try_from(next.timestamp()).unwrap_or(0);
            if let Err(e) = self.fire(timestamp).await {
                eprintln!(
                    "[{}] cron tick at {timestamp} failed: {e:#}",
                    self.component.id
                );
            }
        }
    }

    async fn fire(&self, timestamp: u64) -> Result<()> {
        let mut store = Store::new(self.pre.engine(), HostState::new(self.component.clone()));
        crate::state::yield_every_tick(&mut store);
        let instance = self.pre.instantiate_async(&mut store).await?;
        match instance
            .call_handle_cron_event(&mut store, Metadata { timestamp })
            .await?
        {
            Ok(()) => Ok(()),
            Err(CronError::Other(msg)) => Err(anyhow!("the component returned an error: {msg}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fields_required() {
        assert!(parse_schedule("*/1 * * * * *").is_ok());
        assert!(parse_schedule("0 */5 * * * *").is_ok());
        assert!(parse_schedule("*/5 * * * *").is_err());
        assert!(parse_schedule("61 * * * * *").is_err());
        assert!(parse_schedule("every minute").is_err());
    }
}
