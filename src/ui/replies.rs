//! What the UI does with the engine's answers to its commands: a refused approval offers
//! to approve anyway, a page of a long text joins the task's view, the agent that would
//! run goes in the header, and any other refusal is said in the status line. The rules
//! themselves are the engine's: the UI only reacts to the typed answer.

use super::app::{App, Confirm, Effect, Mode, Overlay};
use crate::protocol::{Command, CommandError, CommandResult, LongText, Reply};

impl App {
    pub(super) fn on_reply(&mut self, command: Command, result: CommandResult) -> Vec<Effect> {
        // An editor waiting on this answer: closed when it went through (the new task
        // selected), kept with the refusal and everything typed when not.
        let from_editor = matches!(
            command,
            Command::Queue { .. }
                | Command::Import { .. }
                | Command::Retry {
                    feedback: Some(_),
                    ..
                }
        );
        if from_editor
            && let Mode::Overlay(Overlay::Editor(e)) = &mut self.mode
            && e.waiting
        {
            match &result {
                Ok(_) => self.mode = Mode::Browse,
                Err(err) => {
                    e.waiting = false;
                    e.error = Some(err.to_string());
                    return Vec::new();
                }
            }
        }
        let mut fx = Vec::new();
        // Feedback went out: the diff comments it carried are done.
        if let (
            Command::Retry {
                id,
                feedback: Some(_),
            },
            Ok(_),
        ) = (&command, &result)
        {
            self.comments_sent(id);
        }
        if let Ok(Reply::Queued { id, .. } | Reply::Imported { id, .. }) = &result {
            fx.extend(self.select(Some(id.clone())));
        }
        // What a command did is said at once and kept in the activity log (an approval,
        // a push and its pull request or why there is none come as the task's notice).
        if let Ok(
            r @ (Reply::Retrying { .. }
            | Reply::Resuming { .. }
            | Reply::Cancelled { .. }
            | Reply::Cancelling { .. }
            | Reply::Discarded { .. }
            | Reply::Queued { .. }
            | Reply::Edited { .. }
            | Reply::Imported { .. }),
        ) = &result
        {
            self.say(r.to_string(), false);
        }
        fx.extend(self.answer(command, result));
        fx
    }

    fn answer(&mut self, command: Command, result: CommandResult) -> Vec<Effect> {
        match (command, result) {
            (_, Ok(Reply::Agent { label })) => self.header.agent = label,
            (Command::WhichAgent { .. }, Err(e)) => {
                self.header.agent = "scripted only".into();
                if self.status.is_none() {
                    self.set_status(e.to_string(), false);
                }
            }
            (
                Command::Load {
                    attempt: Some(n), ..
                },
                Ok(Reply::History { id, history }),
            ) => {
                if let Some(p) = self
                    .past
                    .as_mut()
                    .filter(|p| p.task.id == id && p.task.attempt == n)
                {
                    p.apply_history(&history);
                }
            }
            (Command::Compare { from, to, with, .. }, Ok(Reply::Page { id, page, .. })) => {
                if self.selected.as_ref() == Some(&id) {
                    let label = match &with {
                        None => format!("attempt {from} → {to}"),
                        Some(o) => format!("{id} → {o}"),
                    };
                    self.set_status(
                        format!("{label}: what the later one did differently"),
                        false,
                    );
                    self.compare = Some(super::app::Compare {
                        id,
                        from,
                        to,
                        label,
                        rest: page.rest(),
                        patch: page.text,
                        version: super::model::next_epoch(),
                    });
                    self.pane = super::app::Pane::Diff;
                    self.scroll = 0;
                }
            }
            (_, Ok(Reply::History { id, history })) => {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.task.id == id) {
                    t.apply_history(&history);
                }
            }
            (
                Command::Page {
                    attempt: Some(n), ..
                },
                Ok(Reply::Page {
                    id,
                    text: LongText::Patch,
                    page,
                }),
            ) => {
                if let Some(p) = self
                    .past
                    .as_mut()
                    .filter(|p| p.task.id == id && p.task.attempt == n)
                {
                    p.add_patch_page(page);
                }
            }
            (
                _,
                Ok(Reply::Page {
                    id,
                    text: LongText::Patch,
                    page,
                }),
            ) => {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.task.id == id) {
                    t.add_patch_page(page);
                }
            }
            (
                Command::Approve { branch, .. },
                Err(CommandError::TestsNotPassed { id, verdict, .. }),
            ) => {
                let what = verdict.map_or("were not run", crate::protocol::Verdict::outcome);
                self.mode = Mode::Overlay(Overlay::Confirm(Box::new(Confirm {
                    text: format!(
                        "The tests {what}. Approve anyway? The override is recorded in the commit."
                    ),
                    on_yes: Effect::Send(Command::Approve {
                        id,
                        force: true,
                        branch,
                        keep_others: false,
                    }),
                })));
            }
            // Asked again when the reader gets there (or selects the task) next.
            (Command::Page { id, .. }, Err(e)) => {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.task.id == id) {
                    t.page_failed();
                }
                self.set_status(e.to_string(), true);
            }
            (Command::Load { id, attempt: None }, Err(e)) => {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.task.id == id) {
                    t.loaded = false;
                }
                self.set_status(e.to_string(), true);
            }
            (_, Err(e)) => self.say(e.to_string(), true),
            (_, Ok(_)) => {}
        }
        Vec::new()
    }
}
