//! Fakes for unit tests: a screen whose image the test sets (and may
//! withhold, as Windows' secure desktop does), and an input sink that
//! records what it was asked to do.

use std::sync::{Arc, Mutex};

use lifeline_session::messages::{InputEvent, Withheld};
use lifeline_session::screen::Image;

use crate::platform::{CaptureError, Grab, InputError, InputSink, ScreenSource};

/// A screen showing whatever the test last put in it, or withholding it
/// while the test says so (the image is then left as it was).
#[derive(Debug, Clone)]
pub struct FakeScreen {
    pub image: Arc<Mutex<Image>>,
    pub withheld: Arc<Mutex<Option<Withheld>>>,
}

impl FakeScreen {
    /// Shows `image` until the test changes it.
    pub fn new(image: Image) -> Self {
        Self {
            image: Arc::new(Mutex::new(image)),
            withheld: Arc::default(),
        }
    }
}

impl ScreenSource for FakeScreen {
    fn grab(&mut self, into: &mut Image, _force: bool) -> Result<Grab, CaptureError> {
        let poisoned = || CaptureError::Grab("fake screen poisoned".into());
        if let Some(why) = *self.withheld.lock().map_err(|_| poisoned())? {
            return Ok(Grab::Withheld(why));
        }
        let img = self.image.lock().map_err(|_| poisoned())?;
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
