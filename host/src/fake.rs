//! Fakes for unit tests: a screen whose image the test sets, and an input
//! sink that records what it was asked to do.

use std::sync::{Arc, Mutex};

use lifeline_session::messages::InputEvent;
use lifeline_session::screen::Image;

use crate::platform::{CaptureError, Grab, InputError, InputSink, ScreenSource};

/// A screen showing whatever the test last put in it.
#[derive(Debug, Clone)]
pub struct FakeScreen(pub Arc<Mutex<Image>>);

impl ScreenSource for FakeScreen {
    fn grab(&mut self, into: &mut Image, _force: bool) -> Result<Grab, CaptureError> {
        let img = self
            .0
            .lock()
            .map_err(|_| CaptureError::Grab("fake screen poisoned".into()))?;
        into.clone_from(&img);
        Ok(Grab::Captured)
    }
}

/// Records every applied event.
#[derive(Debug, Clone, Default)]
pub struct RecordingInput(pub Arc<Mutex<Vec<InputEvent>>>);

impl InputSink for RecordingInput {
    fn apply(&mut self, event: &InputEvent) -> Result<(), InputError> {
        self.0
            .lock()
            .map_err(|_| InputError::Apply("recorder poisoned".into()))?
            .push(event.clone());
        Ok(())
    }
}
