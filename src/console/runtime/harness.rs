//! The console without a terminal: state, update and the store worker wired synchronously to
//! a `TestBackend`. Tests and benches drive it with the same key parser the config uses, down
//! the same `update` → effect → worker path as the real loop (minus the threads).

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

use super::worker::Worker;
use crate::config::keymap::KeyChord;
use crate::console::model::{self, Effect, Msg, State};
use crate::console::view;

pub struct Harness {
    pub state: State,
    pub worker: Worker,
    pub terminal: Terminal<TestBackend>,
    /// Effects the worker does not run (sync, theme, narration, clipboard), in order, for
    /// tests to inspect.
    pub other_effects: Vec<Effect>,
}

impl Harness {
    /// A console of `w`×`h` cells with its first window loaded.
    pub fn new(mut state: State, worker: Worker, w: u16, h: u16) -> Harness {
        state.size = (w, h);
        let terminal = Terminal::new(TestBackend::new(w, h)).unwrap_or_else(|e| match e {});
        let mut hs = Harness {
            state,
            worker,
            terminal,
            other_effects: Vec::new(),
        };
        let fx = hs.state.start();
        hs.run_effects(fx);
        hs
    }

    fn run_effects(&mut self, mut fx: Vec<Effect>) {
        // Breadth-first, like the real loop: results feed back until nothing is left.
        let mut guard = 0;
        while !fx.is_empty() && guard < 1000 {
            guard += 1;
            let mut next = Vec::new();
            for e in fx {
                match e {
                    Effect::SyncNow
                    | Effect::LoadTheme(_)
                    | Effect::Narrate { .. }
                    | Effect::Copy(_) => self.other_effects.push(e),
                    // No model here: the offline translator, which is pure, answers at once.
                    Effect::Ask { req, question } => {
                        let answer = Box::new(crate::narrate::ask::offline_answer(&question));
                        next.extend(model::update(&mut self.state, Msg::Asked { req, answer }));
                    }
                    other => {
                        if let Some(msg) = self.worker.run(other) {
                            next.extend(model::update(&mut self.state, msg));
                        }
                    }
                }
            }
            fx = next;
        }
    }

    /// Feed one message and run everything it causes.
    pub fn send(&mut self, msg: Msg) {
        let fx = model::update(&mut self.state, msg);
        self.run_effects(fx);
    }

    /// Press keys named as in the config file, space-separated: `"j j ctrl-d enter"`.
    pub fn press(&mut self, keys: &str) {
        for k in keys.split_whitespace() {
            match KeyChord::parse(k) {
                Ok(c) => self.send(Msg::Key(c)),
                Err(e) => panic!("test key '{k}': {e}"),
            }
        }
    }

    /// Type text character by character (into a prompt or a dialog).
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.send(Msg::Key(KeyChord::plain(crate::config::keymap::Key::Char(
                c,
            ))));
        }
    }

    pub fn resize(&mut self, w: u16, h: u16) {
        self.terminal.backend_mut().resize(w, h);
        self.send(Msg::Resize(w, h));
    }

    /// Draw a frame and return the buffer.
    pub fn render(&mut self) -> &Buffer {
        let state = &self.state;
        let _ = self.terminal.draw(|f| view::draw(f, state));
        self.terminal.backend().buffer()
    }

    /// Draw a frame and return it as text, one line per row, trailing spaces trimmed.
    pub fn screen(&mut self) -> String {
        let buf = self.render().clone();
        let area = buf.area;
        let mut out = String::new();
        for y in 0..area.height {
            let mut line = String::new();
            for x in 0..area.width {
                line.push_str(buf[(x, y)].symbol());
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}
