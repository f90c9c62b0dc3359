//! A logger for tests: what the current thread logs, kept to be looked at.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static RECORDS: RefCell<Vec<(log::Level, String)>> = const { RefCell::new(Vec::new()) };
}

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        RECORDS.with(|r| {
            r.borrow_mut()
                .push((record.level(), record.args().to_string()))
        });
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

/// Runs `f`, giving what it returned and what it logged on this thread.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<(log::Level, String)>) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
    RECORDS.with(|r| r.borrow_mut().clear());
    let out = f();
    (out, RECORDS.with(RefCell::take))
}
