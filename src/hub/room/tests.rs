//! The room end to end: ordering, loading, resumes and redaction, through its public API.
use chrono::Utc;

use super::*;
use crate::domain::ids::{EventId, PostId};
use crate::domain::question::{PublicQuestion, RoomChange};
use crate::store::live::{PublicRoom, RoomState};
use crate::store::writer::ChangeSink;

fn question(id: i64) -> PublicQuestion {
    PublicQuestion {
        id: PostId(id),
        nickname: "网友".into(),
        text: format!("问题{id}"),
        upvotes: 0,
        answered: false,
        answer: None,
        edited: false,
        created_at: Utc::now(),
    }
}

/// A room's stored state as of `seq`, with nobody banned.
fn state(seq: i64, public: PublicRoom) -> RoomState {
    RoomState {
        seq,
        public,
        bans: vec![],
    }
}

fn loaded(ring: usize) -> Room {
    let room = Room::new(EventId(1), EventStatus::Live, 64, ring);
    room.load(state(0, PublicRoom::default()));
    room
}

#[test]
fn joins_resume_from_the_ring_or_the_store() {
    let room = loaded(3);
    for seq in 1..=5 {
        room.committed(
            seq,
            &RoomChange::Question {
                question: question(seq),
            },
        );
    }
    // Ring holds 3, 4, 5.
    match room.join(Some(2), false).start {
        Start::Ring(frames) => assert_eq!(frames.len(), 3),
        _ => panic!("expected a ring replay"),
    }
    match room.join(Some(1), false).start {
        Start::Store { after: 1, up_to: 5 } => {}
        _ => panic!("expected a store replay"),
    }
    assert!(matches!(room.join(Some(5), false).start, Start::Ring(ref f) if f.is_empty()));
    assert!(matches!(room.join(None, false).start, Start::Snapshot(ref s) if s.room.questions.len() == 5));
    assert!(matches!(room.join(Some(99), false).start, Start::Snapshot(_)));
}

#[test]
fn changes_during_loading_wait_and_repeats_are_ignored() {
    // (`publish` is the publisher task's step: frames go out when it runs.)
    let room = Room::new(EventId(1), EventStatus::Live, 64, 16);
    room.committed(3, &RoomChange::Question { question: question(7) });
    let mut rx = room.join(None, false).public;
    room.load(state(
        2,
        PublicRoom {
            moderation: ModerationMode::Post,
            slow_mode_secs: 5,
            questions: vec![question(1)],
            ..PublicRoom::default()
        },
    ));
    room.committed(3, &RoomChange::Question { question: question(7) });
    room.publish();
    let frame = rx.try_recv().unwrap();
    assert_eq!(frame.seq, Some(3));
    assert!(rx.try_recv().is_err(), "seq 3 delivered once");
    assert!(matches!(room.join(None, false).start, Start::Snapshot(ref s) if s.room.questions.len() == 2));
}

fn ask(seq: i64) -> RoomChange {
    RoomChange::Question {
        question: question(seq),
    }
}

/// What the room's publisher sends now.
fn seqs(room: &Room, rx: &mut broadcast::Receiver<Frame>) -> Vec<i64> {
    room.publish();
    std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|f| f.seq)
        .collect()
}

#[test]
fn a_change_ahead_waits_for_the_fill_and_everything_goes_out_in_order() {
    let room = loaded(16);
    let mut rx = room.join(None, false).public;
    room.committed(1, &ask(1));
    // 2 and 3 were committed on another node; 4 (ours) overtakes them.
    room.committed(4, &ask(4));
    room.committed(5, &ask(5));
    assert_eq!(seqs(&room, &mut rx), vec![1], "4 and 5 wait for 2 and 3");
    assert_eq!(room.seq(), 1);
    assert_eq!(room.fill_range(), Some((1, 5)));
    // The fill reads (1, 5] from the log: 2 and 3 are new, 4 and 5 repeats.
    room.filled(&[(2, ask(2)), (3, ask(3)), (4, ask(4)), (5, ask(5))]);
    assert_eq!(seqs(&room, &mut rx), vec![2, 3, 4, 5], "in order, each once");
    assert_eq!(room.fill_range(), None);
    room.committed(5, &ask(5));
    room.committed(6, &ask(6));
    assert_eq!(seqs(&room, &mut rx), vec![6]);
    assert!(matches!(room.join(None, false).start, Start::Snapshot(ref s) if s.room.questions.len() == 6));
}

#[test]
fn a_partial_fill_applies_what_is_next_and_leaves_the_rest_wanted() {
    let room = loaded(16);
    let mut rx = room.join(None, false).public;
    room.want(3); // A wake-up from another node.
    room.committed(5, &ask(5));
    assert_eq!(room.fill_range(), Some((0, 5)));
    room.filled(&[(1, ask(1)), (2, ask(2))]);
    assert_eq!(seqs(&room, &mut rx), vec![1, 2]);
    assert_eq!(room.fill_range(), Some((2, 5)));
    room.filled(&[(3, ask(3)), (4, ask(4))]);
    assert_eq!(seqs(&room, &mut rx), vec![3, 4, 5]);
    assert_eq!(room.fill_range(), None);
    // The periodic check reads past the seq once.
    room.probe();
    assert_eq!(room.fill_range(), Some((5, i64::MAX)));
    assert_eq!(room.fill_range(), None);
}

#[test]
fn the_wait_is_bounded_and_the_fill_reads_what_was_dropped() {
    let room = loaded(4096);
    let mut rx = room.join(None, false).public;
    let last = MAX_WAITING as i64 + 10;
    for seq in 2..=last {
        room.committed(seq, &ask(seq));
    }
    assert!(room.inner().order.waiting() < MAX_WAITING, "dropped past the bound");
    assert!(seqs(&room, &mut rx).is_empty());
    assert_eq!(room.fill_range(), Some((0, last)));
    let log: Vec<(i64, RoomChange)> = (1..=last).map(|s| (s, ask(s))).collect();
    room.filled(&log);
    assert_eq!(room.seq(), last);
    // More than the channel holds: the resume ring shows the order.
    match room.join(Some(0), false).start {
        Start::Ring(frames) => {
            let seqs: Vec<i64> = frames
                .iter()
                .map(|t| {
                    serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap()["seq"]
                        .as_i64()
                        .unwrap()
                })
                .collect();
            assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
        }
        _ => panic!("expected a ring replay"),
    }
    assert!(room.inner().order.waiting() == 0);
}

fn ring_texts(room: &Room, after: i64) -> Vec<String> {
    match room.join(Some(after), false).start {
        Start::Ring(frames) => frames.iter().map(|t| t.as_str().to_owned()).collect(),
        _ => panic!("expected a ring replay"),
    }
}

#[test]
fn a_hide_or_an_edit_redacts_the_ring_replay() {
    let room = loaded(16);
    let mut secret = question(1);
    secret.text = "我的手机13812345678".into();
    room.committed(
        1,
        &RoomChange::Question {
            question: secret.clone(),
        },
    );
    room.committed(2, &ask(2));
    room.committed(
        3,
        &RoomChange::Upvotes {
            question_id: PostId(1),
            upvotes: 1,
        },
    );
    let mut edited = question(2);
    edited.text = "改过的问题".into();
    edited.edited = true;
    room.committed(4, &RoomChange::Question { question: edited });
    room.committed(5, &RoomChange::QuestionRemoved { question_id: PostId(1) });
    let frames = ring_texts(&room, 0);
    assert_eq!(frames.len(), 5, "no frame dropped: {frames:?}");
    assert!(frames.iter().all(|f| !f.contains("13812345678")), "{frames:?}");
    assert!(
        frames[0].contains(r#""seq":1"#) && frames[0].contains("question_removed"),
        "{frames:?}"
    );
    assert!(
        frames[1].contains(r#""seq":2"#) && frames[1].contains("改过的问题"),
        "{frames:?}"
    );
    assert!(
        frames.iter().all(|f| !f.contains("问题2")),
        "the old text is gone: {frames:?}"
    );
    assert!(frames[2].contains("upvotes"), "{frames:?}");
}

#[test]
fn changes_during_loading_are_sorted_and_a_gap_after_loading_is_wanted() {
    let room = Room::new(EventId(1), EventStatus::Live, 64, 16);
    room.committed(6, &ask(6));
    room.committed(4, &ask(4));
    let mut rx = room.join(None, false).public;
    room.load(state(3, PublicRoom::default()));
    assert_eq!(seqs(&room, &mut rx), vec![4]);
    assert_eq!(room.fill_range(), Some((4, 6)));
    room.filled(&[(5, ask(5)), (6, ask(6))]);
    assert_eq!(seqs(&room, &mut rx), vec![5, 6]);
}

#[test]
fn applying_a_change_only_queues_its_frame_for_the_publisher() {
    let room = loaded(16);
    let mut rx = room.join(None, false).public;
    room.committed(1, &ask(1));
    room.committed(2, &ask(2));
    assert!(rx.try_recv().is_err(), "nothing is sent on the committer's path");
    assert_eq!(seqs(&room, &mut rx), vec![1, 2], "the publisher sends them in order");
    assert!(seqs(&room, &mut rx).is_empty(), "each once");
}
