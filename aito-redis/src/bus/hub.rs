//! The pub/sub listener of one bus: fans live channels (`channel:worker:logs`,
//! `channel:decisions`, `channel:events`, under the company's channel prefix) out to their
//! subscribers, and passes `PUBLISH`es on durable channels to the [`Ingestor`]. It hears only
//! its own company's channels. One dedicated pub/sub connection, re-established and
//! re-subscribed by itself after the server went away.

use std::collections::HashMap;
use std::sync::Arc;

use aito_core::{Channel, Delivery, Envelope};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::bus::ingest::{Ingestor, is_mirror};
use crate::connection::{Backoff, Connector, PubSub};
use crate::error::Error;
use crate::keys::Keys;

enum Command {
    Subscribe {
        channel: String,
        subscriber: u64,
        sender: mpsc::Sender<Delivery>,
        done: oneshot::Sender<Result<(), Error>>,
    },
    Unsubscribe {
        subscriber: u64,
    },
}

/// A handle on the listener task.
#[derive(Clone)]
pub(crate) struct Hub {
    commands: mpsc::UnboundedSender<Command>,
    keys: Keys,
}

type Routes = HashMap<String, Vec<(u64, mpsc::Sender<Delivery>)>>;

impl Hub {
    /// Connects, subscribes to the durable channels when ingesting, and starts the listener.
    pub(crate) async fn start(
        connector: Connector,
        keys: Keys,
        ingestor: Option<Ingestor>,
        cancel: CancellationToken,
    ) -> Result<Self, Error> {
        let ingest = ingestor.is_some();
        let pubsub = connect(&connector, &keys, ingest, &Routes::new()).await?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let (ingest_tx, ingest_rx) = mpsc::unbounded_channel();
        if let Some(ingestor) = ingestor {
            tokio::spawn(run_ingestor(ingestor, ingest_rx, cancel.clone()));
        }
        let listener = Listener {
            connector,
            keys: keys.clone(),
            ingest: ingest.then_some(ingest_tx),
            routes: Routes::new(),
            cancel,
        };
        tokio::spawn(listener.run(pubsub, receiver));
        Ok(Self { commands, keys })
    }

    /// Subscribes `sender` to the live channel `channel`; returns once Redis confirmed it.
    pub(crate) async fn subscribe(
        &self,
        channel: Channel,
        subscriber: u64,
        sender: mpsc::Sender<Delivery>,
    ) -> Result<(), Error> {
        let (done, confirmed) = oneshot::channel();
        self.commands
            .send(Command::Subscribe {
                channel: self.keys.channel(channel),
                subscriber,
                sender,
                done,
            })
            .map_err(|_| Error::Closed)?;
        confirmed.await.map_err(|_| Error::Closed)?
    }

    /// Removes a subscriber from every channel.
    pub(crate) fn unsubscribe(&self, subscriber: u64) {
        // The listener may be gone already (the bus was dropped): nothing left to detach then.
        let _ = self.commands.send(Command::Unsubscribe { subscriber });
    }
}

async fn connect(
    connector: &Connector,
    keys: &Keys,
    ingest: bool,
    routes: &Routes,
) -> Result<PubSub, Error> {
    let mut pubsub = connector.pubsub().await?;
    if ingest {
        pubsub.psubscribe(&keys.agent_channel_pattern()).await?;
        for channel in [Channel::Broadcast, Channel::Head, Channel::CLevel] {
            pubsub.subscribe(&keys.channel(channel)).await?;
        }
    }
    for channel in routes.keys() {
        pubsub.subscribe(channel).await?;
    }
    Ok(pubsub)
}

async fn run_ingestor(
    mut ingestor: Ingestor,
    mut receiver: mpsc::UnboundedReceiver<(Channel, String)>,
    cancel: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => return,
            next = receiver.recv() => next,
        };
        let Some((channel, raw)) = next else { return };
        ingestor.ingest(channel, &raw).await;
    }
}

struct Listener {
    connector: Connector,
    keys: Keys,
    ingest: Option<mpsc::UnboundedSender<(Channel, String)>>,
    routes: Routes,
    cancel: CancellationToken,
}

impl Listener {
    async fn run(mut self, mut pubsub: PubSub, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut backoff = Backoff::new(self.connector.config());
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return,
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Subscribe { channel, subscriber, sender, done }) => {
                        let result = if self.routes.contains_key(&channel) {
                            Ok(())
                        } else {
                            pubsub.subscribe(&channel).await
                        };
                        if result.is_ok() {
                            self.routes.entry(channel).or_default().push((subscriber, sender));
                        }
                        // The subscriber may have given up waiting.
                        let _ = done.send(result);
                    }
                    Some(Command::Unsubscribe { subscriber }) => {
                        for subscribers in self.routes.values_mut() {
                            subscribers.retain(|(id, _)| *id != subscriber);
                        }
                    }
                },
                message = pubsub.next() => match message {
                    Some(message) => self.dispatch(&message),
                    None => {
                        tracing::warn!("pub/sub listener lost its connection; reconnecting");
                        loop {
                            tokio::select! {
                                () = self.cancel.cancelled() => return,
                                () = tokio::time::sleep(backoff.next_delay()) => {}
                            }
                            match connect(&self.connector, &self.keys, self.ingest.is_some(), &self.routes).await {
                                Ok(fresh) => {
                                    pubsub = fresh;
                                    backoff.reset();
                                    tracing::info!("pub/sub listener reconnected");
                                    break;
                                }
                                Err(err) => tracing::debug!(error = %err, "reconnecting the pub/sub listener failed"),
                            }
                        }
                    }
                },
            }
        }
    }

    fn dispatch(&mut self, message: &redis::Msg) {
        let name = message.get_channel_name();
        let Some(channel) = self.keys.parse_channel(name) else {
            return;
        };
        let raw = String::from_utf8_lossy(message.get_payload_bytes());
        if channel.is_durable() {
            if is_mirror(&raw) {
                return;
            }
            if let Some(ingest) = &self.ingest {
                // The ingestor stops only with the bus.
                let _ = ingest.send((channel, raw.into_owned()));
            }
            return;
        }
        let Some(subscribers) = self.routes.get_mut(name) else {
            return;
        };
        let limit = self.connector.config().max_envelope_bytes;
        let envelope = match Envelope::from_json_capped(&raw, limit) {
            Ok(envelope) => Arc::new(envelope),
            Err(err) => {
                tracing::warn!(channel = %name, reason = %err.reason, preview = %err.preview, "skipping a malformed envelope");
                return;
            }
        };
        subscribers.retain(|(_, sender)| {
            match sender.try_send(Delivery::live(Arc::clone(&envelope), channel)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(channel = %name, id = %envelope.id, "subscriber too slow; live envelope dropped");
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}
