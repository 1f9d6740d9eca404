//! The keys: each looked up in [`keys`](super::keys), the one table of keys the help shows,
//! and what it does to the view state ([`App`]); typing a filter or a replay time; the help's
//! and the namespace picker's own keys.
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use super::{
    app::{parse_time, Action, App, Input},
    keys::{self, Cmd},
    rows::{picker, Cx},
    view::{Target, View},
};
use crate::feed::Control;

impl App {
    fn typing(&mut self, key: KeyEvent) -> Action {
        let view = self.screen.view;
        let Some(input) = self.input.as_mut() else {
            return Action::None;
        };
        let text = match input {
            Input::Filter(s) | Input::GoTo(s) => s,
        };
        let Some(bind) = keys::find(keys::TYPING, &key, view) else {
            return Action::None;
        };
        match bind.cmd {
            Cmd::Type => {
                if let KeyCode::Char(c) = key.code {
                    text.push(c);
                }
            }
            Cmd::Erase => {
                text.pop();
            }
            Cmd::EraseWord => {
                let kept = text.trim_end().rfind(' ').map_or(0, |i| i + 1);
                text.truncate(kept);
            }
            Cmd::EraseAll => text.clear(),
            Cmd::Keep => {
                let done = self.input.take();
                if let Some(Input::GoTo(s)) = done {
                    return match parse_time(&s) {
                        Some(t) => Action::Control(Control::SeekTo(t)),
                        None => Action::Redraw,
                    };
                }
                return Action::Redraw;
            }
            Cmd::Cancel => {
                if let Some(Input::Filter(_)) = self.input.take() {
                    self.view_state().filter.clear();
                }
                return Action::Redraw;
            }
            Cmd::Quit => return Action::Quit,
            _ => return Action::None,
        }
        if let Some(Input::Filter(s)) = &self.input {
            let s = s.clone();
            let v = self.view_state();
            v.filter = s;
            v.list.moved = true;
        }
        Action::Redraw
    }

    fn help_key(&mut self, key: KeyEvent) -> Action {
        let Some(bind) = keys::find(keys::HELP, &key, self.screen.view) else {
            return Action::None;
        };
        let page = self.help_page.max(1) as i32;
        let by = match bind.cmd {
            Cmd::Quit => return Action::Quit,
            Cmd::CloseHelp => {
                self.help = false;
                return Action::Redraw;
            }
            Cmd::Up => -1,
            Cmd::Down => 1,
            Cmd::PageUp => -page,
            Cmd::PageDown => page,
            Cmd::Home => -i32::from(u16::MAX),
            Cmd::End => i32::from(u16::MAX),
            _ => return Action::None,
        };
        // The draw clamps it to the help's length.
        self.help_scroll = (i32::from(self.help_scroll) + by).clamp(0, i32::from(u16::MAX)) as u16;
        Action::Redraw
    }

    /// Up/Down in details: from link to link, scrolling the page when there is none further.
    fn detail_step(&mut self, delta: isize) {
        let l = self.list();
        let can = if delta < 0 {
            l.selected > 0
        } else {
            l.selected + 1 < l.len
        };
        if can && !l.free {
            l.step(delta);
        } else {
            l.scroll_by(delta);
        }
    }

    /// The namespace picker's keys.
    fn picker_key(&mut self, key: KeyEvent) -> Action {
        let Some(bind) = keys::find(keys::PICKER, &key, self.screen.view) else {
            return Action::None;
        };
        let choices = picker::choices(&Cx::new(self.shown(), self.theme));
        let at = self.picker.unwrap_or(0);
        match bind.cmd {
            Cmd::Quit => return Action::Quit,
            Cmd::ClosePicker => self.picker = None,
            Cmd::Up => self.picker = Some(at.saturating_sub(1)),
            Cmd::Down => self.picker = Some((at + 1).min(choices.len().saturating_sub(1))),
            Cmd::Choose => {
                self.picker = None;
                if let Some(c) = choices.get(at) {
                    self.set_scope(c.scope.clone());
                }
            }
            _ => return Action::None,
        }
        Action::Redraw
    }

    /// Handles one key: looked up in [`keys`], the one table of keys the help shows.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        self.message = None;
        if self.input.is_some() {
            return self.typing(key);
        }
        if self.help {
            return self.help_key(key);
        }
        if self.picker.is_some() {
            return self.picker_key(key);
        }
        let view = self.screen.view;
        if self.replay() {
            if let Some(bind) = keys::find(keys::REPLAY, &key, view) {
                let c = match bind.cmd {
                    Cmd::ReplayPause => Control::TogglePause,
                    Cmd::Step => Control::Step,
                    Cmd::SeekBack => Control::Seek(-10.0),
                    Cmd::SeekForward => Control::Seek(10.0),
                    Cmd::Slower => Control::Speed(0.5),
                    Cmd::Faster => Control::Speed(2.0),
                    _ => {
                        self.input = Some(Input::GoTo(String::new()));
                        return Action::Redraw;
                    }
                };
                return Action::Control(c);
            }
        }
        let Some(bind) = keys::find(keys::MAIN, &key, view) else {
            return Action::None;
        };
        let in_doc = self.in_doc();
        match bind.cmd {
            Cmd::Quit => return Action::Quit,
            Cmd::NextView => self.go(View::ALL[(view.index() + 1) % View::ALL.len()]),
            Cmd::PrevView => {
                self.go(View::ALL[(view.index() + View::ALL.len() - 1) % View::ALL.len()])
            }
            Cmd::ToView => {
                if let KeyCode::Char(c @ '1'..='8') = key.code {
                    self.go(View::ALL[c as usize - '1' as usize]);
                }
            }
            Cmd::Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            Cmd::Pause => {
                self.frozen = match self.frozen.take() {
                    Some(_) => None,
                    None => Some(Box::new(self.store.clone())),
                };
                self.epoch += 1;
            }
            Cmd::Filter => {
                let f = self.view_state().filter.clone();
                self.input = Some(Input::Filter(f));
            }
            Cmd::Sort => self.next_sort(),
            Cmd::SortMove => self.move_sort(if key.code == KeyCode::Char('<') {
                -1
            } else {
                1
            }),
            Cmd::Namespace => self.next_ns(),
            Cmd::Picker => {
                let choices = picker::choices(&Cx::new(self.shown(), self.theme));
                self.picker = Some(choices.iter().position(|c| c.current).unwrap_or(0));
            }
            Cmd::Reverse => {
                if let Some((c, desc)) = self.sort_now(view) {
                    self.view_state().sort = Some((c, !desc));
                }
            }
            Cmd::Back => return self.esc(),
            Cmd::Open => {
                let t = if self.screen.detail.is_some() {
                    let sel = self.detail.selected;
                    self.links().get(sel).copied()
                } else {
                    self.enter()
                };
                match t {
                    Some(t) => self.open(t),
                    None => return Action::None,
                }
            }
            Cmd::Up if in_doc => self.detail_step(-1),
            Cmd::Down if in_doc => self.detail_step(1),
            Cmd::PageUp if in_doc => {
                let p = self.list().page.max(1) as isize;
                self.list().scroll_by(-p);
            }
            Cmd::PageDown if in_doc => {
                let p = self.list().page.max(1) as isize;
                self.list().scroll_by(p);
            }
            Cmd::Home if in_doc => self.list().scroll_by(-(u16::MAX as isize)),
            Cmd::End if in_doc => self.list().scroll_by(u16::MAX as isize),
            Cmd::Up => {
                self.list().step(-1);
                self.unfollow(view);
            }
            Cmd::Down => self.list().step(1),
            Cmd::PageUp => {
                let p = self.list().page.max(1) as isize;
                self.list().step(-p);
                self.unfollow(view);
            }
            Cmd::PageDown => {
                let p = self.list().page.max(1) as isize;
                self.list().step(p);
            }
            Cmd::Home => {
                self.list().home();
                self.unfollow(view);
            }
            Cmd::End => {
                self.list().end();
                if view == View::Events {
                    self.follow = true;
                }
            }
            Cmd::Follow => self.follow = !self.follow,
            Cmd::All => {
                let v = self.view_state();
                v.all = !v.all;
            }
            Cmd::Tree => {
                if view == View::Processes && self.screen.detail.is_none() {
                    let v = self.view_state();
                    v.tree = !v.tree;
                } else {
                    self.go(View::Processes);
                    self.view_state().tree = true;
                }
            }
            Cmd::NoKill => {
                self.message =
                    Some("F9: ipctop only observes; it never kills, signals or changes anything");
            }
            Cmd::Expand => {
                if let Some(Target::Sem(id)) = self.enter() {
                    self.expanded.insert(id);
                }
            }
            Cmd::Collapse => {
                if let Some(Target::Sem(id)) = self.enter() {
                    self.expanded.remove(&id);
                    self.expand_all = false;
                }
            }
            Cmd::ExpandAll => {
                self.expand_all = !self.expand_all;
                if !self.expand_all {
                    self.expanded.clear();
                }
            }
            _ => return Action::None,
        }
        Action::Redraw
    }

    pub(super) fn unfollow(&mut self, view: View) {
        if view == View::Events {
            self.follow = false;
        }
    }
}
