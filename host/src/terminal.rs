//! The terminal the user may have started the host from: dropping what
//! was typed ahead of a question (a platform call: termios on Unix, the
//! console input buffer on Windows).

/// Drops input typed at the terminal and not yet read; a no-op when
/// stdin is not a terminal.
pub fn flush_typed_ahead() {
    use std::io::IsTerminal as _;
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return;
    }
    if let Err(e) = flush(&stdin) {
        tracing::debug!(error = %e, "cannot flush the terminal's input");
    }
}

#[cfg(unix)]
fn flush(stdin: &std::io::Stdin) -> std::io::Result<()> {
    rustix::termios::tcflush(stdin, rustix::termios::QueueSelector::IFlush).map_err(Into::into)
}

#[cfg(windows)]
#[allow(unsafe_code)]
fn flush(stdin: &std::io::Stdin) -> std::io::Result<()> {
    use std::os::windows::io::AsRawHandle as _;
    // SAFETY: the handle is stdin's, valid for this call.
    let ok = unsafe {
        windows_sys::Win32::System::Console::FlushConsoleInputBuffer(stdin.as_raw_handle())
    };
    if ok == 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn flush(_: &std::io::Stdin) -> std::io::Result<()> {
    Ok(())
}
