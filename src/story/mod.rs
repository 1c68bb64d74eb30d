//! Every story acidbase tells: what happened in a run, in plain words, for people.
//!
//! - [`report`]: the run report's "What happened" ([`report::tell`]): the faults, the
//!   participant that stayed in doubt longest, violations, money, orders, BASE's soft
//!   state. The run's protocol tells its own part through [`ProtocolPart`] (the
//!   `Protocol` trait's story hooks): at the [`StoryPlace`]s the shared story leaves
//!   it, in the blocked sentence, and at the end.
//! - [`trace`]: a run's events told in order for the transactions a reader follows
//!   ([`trace::tell`]): `acidbase shrink`'s counterexample (from the trace's JSON
//!   lines) and the harness's failing run (`testing::Run::story`, from its events)
//!   share it, each in its own [`trace::Voice`].
//!
//! It sits above the scenario (the story reads its description and guards) and below
//! the protocols, whose hooks name its places.

pub mod report;
pub mod trace;

use crate::report::{CountsLine, CountsPlace, Report};

/// A place in a run's story where its protocol tells sentences of its own (see
/// `Protocol::story_at`), in the order the story reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoryPlace {
    /// After the shared checks — atomicity, who is still in doubt, locks held at the
    /// end, money, orders across services — and before the business workloads' and
    /// TCC fences' sentences (the service calls' counts).
    AfterChecks,
    /// In BASE's part of the story, after the soft state a reader could see and
    /// before what was left unfinished; told only when the run reports consistency
    /// (the saga's recovery job).
    SoftState,
}

/// The protocol's part of a run's story and of its text report, as they ask for it:
/// the `Protocol` trait's story hooks with the node type erased (the registry
/// implements it for every protocol).
pub trait ProtocolPart {
    /// What this protocol calls a participant's wait in doubt, said at the end of the
    /// sentence about the longest one ("2PC's blocking problem").
    fn blocking_name(&self) -> Option<&'static str>;
    /// Sentences of its own at `place`.
    fn story_at(&self, place: StoryPlace, report: &Report) -> Vec<String>;
    /// Sentences of its own at the end of the story.
    fn story_end(&self, report: &Report) -> Vec<String>;
    /// Lines of its own in the text report's "Counts" block at `place`.
    fn counts_at(&self, place: CountsPlace, report: &Report) -> Vec<CountsLine>;
}

/// The protocol's own lines of the "Counts" block, every place in order (they go to
/// [`Report::protocol_counts`]).
pub fn protocol_counts(
    protocol: &dyn ProtocolPart,
    report: &Report,
) -> Vec<(CountsPlace, CountsLine)> {
    CountsPlace::ALL
        .into_iter()
        .flat_map(|place| {
            let lines = protocol.counts_at(place, report);
            lines.into_iter().map(move |line| (place, line))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{protocol_counts, ProtocolPart, StoryPlace};
    use crate::report::{CountsLine, CountsPlace, Report};

    /// A protocol's part that says where each of its hooks is.
    struct Told;

    impl ProtocolPart for Told {
        fn blocking_name(&self) -> Option<&'static str> {
            Some("the told wait")
        }

        fn story_at(&self, place: StoryPlace, _report: &Report) -> Vec<String> {
            vec![format!("told at {place:?}")]
        }

        fn story_end(&self, _report: &Report) -> Vec<String> {
            vec!["told at the end".into()]
        }

        fn counts_at(&self, place: CountsPlace, _report: &Report) -> Vec<CountsLine> {
            vec![CountsLine::new("told", format!("at {place:?}"))]
        }
    }

    /// The built-in default scenario (2PC, the TM crashes after the votes) told by
    /// `Told`, and as 2PC tells it.
    fn told_and_two_pc() -> (Report, Report) {
        let v = crate::run::default_scenario();
        let s = v.scenario();
        let o = v.run(s.seed, None);
        let plan = crate::run::fault_plan(s, s.seed, &o.names);
        let mut told = o.report.clone();
        told.story = super::report::tell(s, &told, &o.results, &o.names, &plan, &Told);
        told.protocol_counts = protocol_counts(&Told, &told);
        (told, o.report)
    }

    fn position(lines: &[String], needle: &str) -> usize {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {lines:#?}"))
    }

    #[test]
    fn a_protocol_tells_its_part_at_the_places_the_story_leaves_it() {
        let (r, two_pc) = told_and_two_pc();
        let s = &r.story;
        let blocked = position(s, "in doubt for");
        assert!(s[blocked].ends_with(" — the told wait"), "{}", s[blocked]);
        // After the shared checks (money), before the closing summary; the soft
        // state is told only for a run that reports consistency (2PC does not).
        let at = position(s, "told at AfterChecks");
        assert!(position(s, "Money is") < at && at < position(s, "Every transaction"));
        assert!(!s.iter().any(|l| l.contains("SoftState")), "{s:#?}");
        assert_eq!(s.last().map(String::as_str), Some("told at the end"));
        let text = r.to_text();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let business = position(&lines, "  told           at AfterBusiness");
        let network = position(&lines, "  network ");
        let after = position(&lines, "  told           at AfterNetwork");
        assert!(business < network && network + 1 == after, "{text}");
        assert_eq!(
            serde_json::to_value(&r).expect("json"),
            serde_json::to_value(&two_pc).expect("json"),
            "what the protocol tells is text only"
        );
    }

    #[test]
    fn the_protocols_part_is_all_that_differs() {
        let (told, two_pc) = told_and_two_pc();
        let shared: Vec<String> = told
            .story
            .iter()
            .filter(|l| !l.starts_with("told at"))
            .map(|l| l.replace(" — the told wait", " — 2PC's blocking problem"))
            .collect();
        assert_eq!(shared, two_pc.story);
        assert!(two_pc.protocol_counts.is_empty());
    }
}
