//! `LISTEN sitrep_changes` on a connection of its own: every commit that changes alerts,
//! history or the outbox (triggers in 0001_team.sql) wakes the listener, so a console pulls
//! within moments of a teammate's decision, with no polling loop.

use tokio::sync::mpsc;

use super::{CHANNEL, TeamError, TeamStore};

/// A live subscription. [`Listener::changed`] returns when something changed, `false` when the
/// connection is gone (the caller reconnects and pulls, since notifications sent while it was
/// away are lost).
pub struct Listener {
    rx: mpsc::UnboundedReceiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Wait for the next change; several notifications that arrived meanwhile count as one.
    pub async fn changed(&mut self) -> bool {
        if self.rx.recv().await.is_none() {
            return false;
        }
        while self.rx.try_recv().is_ok() {}
        true
    }
}

impl TeamStore {
    /// Open a dedicated connection and LISTEN on the change channel.
    pub async fn listen(&self) -> Result<Listener, TeamError> {
        let config = self.target.pg_config().clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let label = self.label();
        let unreachable = |e: tokio_postgres::Error| TeamError::Connect {
            target: label.clone(),
            detail: crate::sanitize::one_line(&super::chain(&e)),
        };
        let task = match self.target.tls_connector()? {
            None => {
                let (client, conn) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(unreachable)?;
                spawn_listener(client, conn, tx).await?
            }
            Some(tls) => {
                let (client, conn) = config.connect(tls).await.map_err(unreachable)?;
                spawn_listener(client, conn, tx).await?
            }
        };
        Ok(Listener { rx, task })
    }
}

/// Drive `conn`, forwarding notifications, and issue the LISTEN through `client` (kept alive
/// inside the task for as long as the listener lives).
async fn spawn_listener<S, T>(
    client: tokio_postgres::Client,
    mut conn: tokio_postgres::Connection<S, T>,
    tx: mpsc::UnboundedSender<()>,
) -> Result<tokio::task::JoinHandle<()>, TeamError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let drive = async {
            loop {
                let msg = std::future::poll_fn(|cx| conn.poll_message(cx)).await;
                match msg {
                    Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    // Closed or broken: the receiver sees the channel end.
                    None | Some(Err(_)) => return,
                }
            }
        };
        let listen = async {
            let r = client.batch_execute(&format!("LISTEN {CHANNEL}")).await;
            let _ = ready_tx.send(r);
            // Hold the client: dropping it would close the connection.
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = drive => {}
            _ = listen => {}
        }
    });
    match ready_rx.await {
        Ok(Ok(())) => Ok(task),
        Ok(Err(e)) => {
            task.abort();
            Err(e.into())
        }
        Err(_) => Err(TeamError::Connect {
            target: "listener".into(),
            detail: "the connection closed before LISTEN".into(),
        }),
    }
}
