//! The console of a windowed program. On Windows, `lifeline-host.exe`
//! and `lifeline-viewer.exe` are built for the windows subsystem, so a
//! double-click opens no console window; started from a console (`--cli`,
//! `--json`, a script), [`attach`] borrows the parent's console so what
//! they print is seen there. Pipes and files given by the caller are kept
//! as they are. Elsewhere it does nothing.

/// Prints through the console of the process that started this one,
/// when this one was given none (Windows); a no-op elsewhere.
pub fn attach() {
    #[cfg(windows)]
    windows::attach();
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod windows {
    use windows_sys::Win32::System::Console::{
        ATTACH_PARENT_PROCESS, AttachConsole, GetStdHandle, STD_ERROR_HANDLE, STD_OUTPUT_HANDLE,
    };

    pub(super) fn attach() {
        // SAFETY: GetStdHandle and AttachConsole take plain values and
        // touch no memory of ours.
        unsafe {
            let given = |which| {
                let h = GetStdHandle(which);
                !h.is_null() && h as isize != -1
            };
            if given(STD_OUTPUT_HANDLE) || given(STD_ERROR_HANDLE) {
                return;
            }
            // Fails (harmlessly) when the parent has no console: a
            // double-click from Explorer.
            AttachConsole(ATTACH_PARENT_PROCESS);
        }
    }
}
