//! Placeholder until this vendor's client lands (replaced in this same change).
use super::{ApiError, PageSink, Transport, Window, WriteBack, WriteOutcome};
use crate::config::SourceConfig;

pub struct Client {
    transport: Transport,
}

impl Client {
    pub fn new(_cfg: &SourceConfig, transport: Transport) -> Result<Client, ApiError> {
        Ok(Client { transport })
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub async fn fetch(
        &mut self,
        _window: Window,
        _sink: &mut dyn PageSink,
    ) -> Result<(), ApiError> {
        Err(ApiError::Config("the wiz client is not written yet".into()))
    }

    pub async fn write_back(&mut self, _action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        Ok(WriteOutcome::Unsupported(
            "the wiz client is not written yet",
        ))
    }
}
