//! OS integration of [`DesktopNotifier`], with real D-Bus and no mocks: this test owns
//! `org.freedesktop.Notifications` on a private session bus, records what `notify-rust` sends,
//! and invokes the "open" action like a desktop would.
//!
//! Run it with `tests/os/run.sh` (a `dbus-run-session` with no service
//! activation, so no real notification daemon can take the name).

#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deskbell_client::alerts::{
    AlertLevel, AlertPolicy, AlertPreferences, DesktopNotifier, NotificationAction, Notifier,
    NotifierEvent,
};
use deskbell_client::sound::RecordingSoundPlayer;
use deskbell_protocol::{
    EventAction, EventEnvelope, Priority, Requester, Resource, Role, Ticket, TicketStatus, User,
};
use tokio::sync::mpsc;
use zbus::zvariant::{OwnedValue, Value};

const PATH: &str = "/org/freedesktop/Notifications";
const IFACE: &str = "org.freedesktop.Notifications";

#[derive(Debug, Clone)]
struct Recorded {
    id: u32,
    app_name: String,
    summary: String,
    body: String,
    actions: Vec<String>,
    urgency: Option<u8>,
    app_icon: String,
    /// Hint name → its value as text (strings) or its type.
    hints: HashMap<String, String>,
}

/// A capturing notification server.
#[derive(Clone, Default)]
struct Capture {
    calls: Arc<Mutex<Vec<Recorded>>>,
    closed: Arc<Mutex<Vec<u32>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Capture {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let urgency = hints.get("urgency").and_then(|v| match &**v {
            Value::U8(b) => Some(*b),
            _ => None,
        });
        let hints = hints
            .iter()
            .map(|(k, v)| {
                let text = match &**v {
                    Value::Str(s) => s.to_string(),
                    other => format!("{other:?}"),
                };
                (k.clone(), text)
            })
            .collect();
        let mut calls = self.calls.lock().unwrap();
        let id = calls.len() as u32 + 1;
        calls.push(Recorded {
            id,
            app_name,
            summary,
            body,
            actions,
            urgency,
            app_icon,
            hints,
        });
        id
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "deskbell-capture".into(),
            "deskbell".into(),
            "0.1".into(),
            "1.2".into(),
        )
    }

    /// As a desktop does: closes it and says so (reason 3: closed by CloseNotification).
    async fn close_notification(
        &self,
        id: u32,
        #[zbus(signal_emitter)] emitter: zbus::object_server::SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        self.closed.lock().unwrap().push(id);
        Self::notification_closed(&emitter, id, 3).await?;
        Ok(())
    }

    #[zbus(signal)]
    async fn notification_closed(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        id: u32,
        reason: u32,
    ) -> zbus::Result<()>;
}

async fn wait_for_call(calls: &Arc<Mutex<Vec<Recorded>>>, n: usize) -> Recorded {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(r) = calls.lock().unwrap().get(n - 1).cloned() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the notification reached the capturing server")
}

/// Emits one of the notification server's signals, as the desktop would.
async fn signal<B>(server: &zbus::Connection, name: &str, body: &B)
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    server
        .emit_signal(None::<&str>, PATH, IFACE, name, body)
        .await
        .unwrap();
}

fn me() -> User {
    User {
        id: 7,
        company_id: 1,
        name: "Ada".into(),
        email: "ada@example.com".into(),
        role: Role::Agent,
        active: true,
    }
}

fn urgent_ticket(id: i64) -> Ticket {
    let ts = "2026-11-22T10:00:00Z".parse().unwrap();
    Ticket {
        id,
        company_id: 1,
        title: "Checkout is down".into(),
        requester: Requester {
            name: "Grace".into(),
            contact: None,
        },
        status: TicketStatus::Open,
        priority: Priority::Urgent,
        assignee_id: None,
        creator_id: 8,
        lane_id: None,
        last_message: Some("Nobody can pay".into()),
        comment_count: 0,
        created_at: ts,
        updated_at: ts,
        version: 1,
        urgent_since: None,
        urgent_by: None,
        acknowledged_by: None,
        acknowledged_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a private D-Bus session: tests/os/run.sh"]
async fn urgent_alert_is_shown_critical_and_its_open_action_comes_back() {
    // The policy turns an urgent creation by someone else into an alert.
    let mut policy =
        AlertPolicy::new(me(), AlertPreferences::default()).with_window(Duration::from_millis(0));
    let event = EventEnvelope {
        ticket: Some(urgent_ticket(42)),
        ..EventEnvelope::new(
            EventAction::Create,
            1,
            1,
            8,
            "2026-11-22T10:00:00Z".parse().unwrap(),
        )
    };
    policy.observe(Resource::Ticket, &event, None, Duration::ZERO);
    let alerts = policy.poll(Duration::ZERO);
    assert_eq!(alerts.len(), 1);
    assert_eq!(policy.preferences().level, AlertLevel::UrgentOnly);

    let (tx, mut rx) = mpsc::channel(8);
    let player = Arc::new(RecordingSoundPlayer::new());
    let notifier = DesktopNotifier::new(tx).with_sound_player(player.clone());

    // 1. No notification server yet (and the private bus activates none): the failure comes
    //    back on the channel, `notify` itself having returned at once.
    notifier.notify(&alerts[0]).expect("notify");
    match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
        Ok(Some(NotifierEvent::Failed { ticket_ids, error })) => {
            assert_eq!(ticket_ids, vec![42]);
            assert!(!error.is_empty());
        }
        other => panic!("expected a Failed event, got {other:?}"),
    }

    // 2. A capturing server owns org.freedesktop.Notifications.
    let capture = Capture::default();
    let calls = capture.calls.clone();
    let closed = capture.closed.clone();
    let server = zbus::connection::Builder::session()
        .expect("DBUS_SESSION_BUS_ADDRESS (run via tests/os/run.sh)")
        .name(IFACE)
        .unwrap()
        .serve_at(PATH, capture)
        .unwrap()
        .build()
        .await
        .expect("own org.freedesktop.Notifications on the session bus");

    // `notify` returns at once: showing happens off the runtime's threads.
    let started = std::time::Instant::now();
    notifier.notify(&alerts[0]).expect("notify");
    assert!(started.elapsed() < Duration::from_millis(500));

    let shown = wait_for_call(&calls, 1).await;
    assert_eq!(shown.app_name, "Deskbell");
    assert_eq!(shown.summary, "Checkout is down");
    assert_eq!(shown.body, "New urgent ticket: Grace — Nobody can pay");
    assert_eq!(
        shown.actions,
        [
            "default",
            "Open",
            "open",
            "Open",
            "acknowledge",
            "Acknowledge",
            "assign",
            "Assign to me"
        ]
        .map(String::from)
        .to_vec(),
        "an urgent single-ticket alert: open (body click and button), acknowledge, assign"
    );
    assert_eq!(shown.urgency, Some(2), "urgency hint: critical");
    assert!(alerts[0].sound);
    let sound_file = shown.hints.get("sound-file").expect("the sound hint");
    assert!(sound_file.ends_with("urgent.wav"), "{sound_file}");
    assert_eq!(
        std::fs::read(sound_file).unwrap(),
        deskbell_client::sound::URGENT_WAV,
        "the shipped chime, written to the cache"
    );
    assert!(
        shown.app_icon.ends_with(".png"),
        "app icon: {}",
        shown.app_icon
    );
    // This server does not advertise `sound`: the app plays the chime itself (both shows).
    let played = tokio::time::timeout(Duration::from_secs(15), async {
        while player.plays() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(played.is_ok(), "played {} times", player.plays());

    // Another notification's action must not be taken for ours.
    signal(&server, "ActionInvoked", &(shown.id + 100, "open")).await;

    // The user clicks "Open ticket". The notifier subscribes to the signal right after
    // `Notify` returns, so emit until it has heard (as a desktop would only emit once, but
    // later than this test can).
    let activated = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            signal(&server, "ActionInvoked", &(shown.id, "open")).await;
            if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
            {
                return ev;
            }
        }
    })
    .await
    .expect("the action came back through the channel");
    assert_eq!(
        activated,
        NotifierEvent::Action {
            ticket_ids: vec![42],
            action: NotificationAction::Open
        }
    );

    // "Acknowledge" and "Assign to me" come back as such (the desk's pump performs them).
    for (key, action) in [
        ("acknowledge", NotificationAction::Acknowledge),
        ("assign", NotificationAction::AssignToMe),
        ("default", NotificationAction::Open),
    ] {
        let before = calls.lock().unwrap().len();
        notifier.notify(&alerts[0]).unwrap();
        let shown = wait_for_call(&calls, before + 1).await;
        let got = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                signal(&server, "ActionInvoked", &(shown.id, key)).await;
                if let Ok(Some(ev)) =
                    tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
                {
                    return ev;
                }
            }
        })
        .await
        .expect("the action came back");
        assert_eq!(
            got,
            NotifierEvent::Action {
                ticket_ids: vec![42],
                action
            },
            "{key}"
        );
    }

    // Withdrawn (another member acknowledged): the notification showing ticket 42 is closed
    // with CloseNotification; withdrawing a ticket nothing shows closes nothing.
    let before = calls.lock().unwrap().len();
    notifier.notify(&alerts[0]).unwrap();
    let to_withdraw = wait_for_call(&calls, before + 1).await;
    let withdrawn = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            // Until its thread has registered the id, a withdrawal finds nothing to close.
            notifier.withdraw(4242);
            notifier.withdraw(42);
            if closed.lock().unwrap().contains(&to_withdraw.id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let withdrawn_seen = format!(
        "CloseNotification({}) captured: {:?}; open {}",
        to_withdraw.id,
        closed.lock().unwrap(),
        notifier.open_count()
    );
    // Whatever is still open is dismissed, so that no thread is left waiting (the runtime's
    // shutdown would wait for it); this runs before the assertion can fail.
    let first_all_ended = tokio::time::timeout(Duration::from_secs(15), async {
        while notifier.open_count() > 0 {
            let ids: Vec<u32> = calls.lock().unwrap().iter().map(|c| c.id).collect();
            for id in ids {
                signal(&server, "NotificationClosed", &(id, 2u32)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok();
    assert!(withdrawn.is_ok(), "{withdrawn_seen}");
    assert!(first_all_ended, "{} left open", notifier.open_count());

    // A second alert; closed by the user without acting: nothing comes back.
    notifier.notify(&alerts[0]).unwrap();
    let second = wait_for_call(&calls, 2).await;
    assert_eq!(second.urgency, Some(2));
    for _ in 0..5 {
        signal(&server, "NotificationClosed", &(second.id, 2u32)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err(),
        "closing is not opening"
    );

    // 3. Notifications left open are bounded: with room for two, showing a third closes the
    //    oldest (CloseNotification), whose wait then ends.
    let (tx, _rx) = mpsc::channel(8);
    let bounded = DesktopNotifier::with_max_open(tx, 2);
    let before = calls.lock().unwrap().len();
    let mut ids = Vec::new();
    for n in 1..=3 {
        bounded.notify(&alerts[0]).unwrap();
        ids.push(wait_for_call(&calls, before + n).await.id);
    }
    let oldest_closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if closed.lock().unwrap().contains(&ids[0]) && bounded.open_count() == 2 {
                return;
            }
            // The close may come before that notification's thread listens: say it again, as
            // a desktop would keep it closed.
            if closed.lock().unwrap().contains(&ids[0]) {
                signal(&server, "NotificationClosed", &(ids[0], 3u32)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok();
    let seen = format!(
        "shown {ids:?}, closed {:?}, open {}",
        closed.lock().unwrap(),
        bounded.open_count()
    );

    // The user dismisses the rest: nothing is left open, and no thread left waiting (which the
    // runtime's shutdown would wait for; so this runs before any assertion can fail).
    let all_ended = tokio::time::timeout(Duration::from_secs(15), async {
        while bounded.open_count() > 0 {
            for id in &ids {
                signal(&server, "NotificationClosed", &(*id, 2u32)).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok();

    // Every notification shown is dismissed once more: no wait may outlive the test.
    let ids: Vec<u32> = calls.lock().unwrap().iter().map(|c| c.id).collect();
    for _ in 0..3 {
        for id in &ids {
            signal(&server, "NotificationClosed", &(*id, 2u32)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert!(oldest_closed, "the oldest closed and two left open: {seen}");
    assert!(
        !closed.lock().unwrap().contains(&ids[1]) && !closed.lock().unwrap().contains(&ids[2]),
        "only the oldest is closed: {seen}"
    );
    assert!(all_ended, "dismissed notifications are no longer open");
}
