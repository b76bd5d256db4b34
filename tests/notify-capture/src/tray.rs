//! A minimal tray host for the tests: `org.kde.StatusNotifierWatcher`, which is what an app's
//! tray icon (libayatana-appindicator) registers with when a desktop shows tray icons. With it
//! on the private bus, the app's tray becomes visible to the tests: its title (the urgent count)
//! and status, and its menu (com.canonical.dbusmenu), whose items can be clicked as a user would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

pub const WATCHER_NAME: &str = "org.kde.StatusNotifierWatcher";
pub const WATCHER_PATH: &str = "/StatusNotifierWatcher";
const ITEM_IFACE: &str = "org.kde.StatusNotifierItem";
const MENU_IFACE: &str = "com.canonical.dbusmenu";

/// Where a registered item lives on the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ItemAddress {
    bus_name: String,
    path: String,
}

#[derive(Default)]
pub struct Registry {
    items: Mutex<Vec<ItemAddress>>,
}

impl Registry {
    fn addresses(&self) -> Vec<ItemAddress> {
        self.items.lock().expect("tray registry lock").clone()
    }
}

pub struct Watcher {
    pub registry: Arc<Registry>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    /// `service` is an object path on the caller's connection (what appindicator sends) or a
    /// bus name (then the item is at the conventional path).
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let sender = header
            .sender()
            .map(|s| s.to_string())
            .ok_or_else(|| zbus::fdo::Error::InvalidArgs("no sender".into()))?;
        let address = if service.starts_with('/') {
            ItemAddress {
                bus_name: sender,
                path: service.to_string(),
            }
        } else {
            ItemAddress {
                bus_name: service.to_string(),
                path: "/StatusNotifierItem".to_string(),
            }
        };
        let full = format!("{}{}", address.bus_name, address.path);
        eprintln!("notify-capture: tray item registered: {full}");
        {
            let mut items = self.registry.items.lock().expect("tray registry lock");
            items.retain(|i| i != &address);
            items.push(address);
        }
        Self::status_notifier_item_registered(&emitter, &full).await?;
        Ok(())
    }

    async fn register_status_notifier_host(&self, service: &str) {
        eprintln!("notify-capture: tray host registered: {service}");
    }

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.registry
            .addresses()
            .into_iter()
            .map(|a| format!("{}{}", a.bus_name, a.path))
            .collect()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }

    #[zbus(signal)]
    async fn status_notifier_item_registered(
        emitter: &SignalEmitter<'_>,
        service: &str,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn status_notifier_host_registered(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

/// A tray item as the tests see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrayItem {
    pub bus_name: String,
    pub path: String,
    pub id: String,
    pub title: String,
    pub status: String,
    pub icon_name: String,
    /// appindicator's label next to the icon (`XAyatanaLabel`).
    pub label: String,
    /// Where the item's menu (com.canonical.dbusmenu) is, on the item's connection.
    pub menu_path: Option<String>,
    pub menu: Vec<MenuEntry>,
}

/// One menu entry (dbusmenu), flattened in order; separators included.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuEntry {
    pub id: i32,
    pub label: String,
    pub kind: String,
    pub enabled: bool,
    pub visible: bool,
    /// `checkmark` items: whether checked.
    pub checked: Option<bool>,
}

/// Every registered item still on the bus, read now.
pub async fn items(bus: &zbus::Connection, registry: &Registry) -> Vec<TrayItem> {
    let mut out = Vec::new();
    for address in registry.addresses() {
        match read_item(bus, &address).await {
            Ok(item) => out.push(item),
            // The app quit (its name is gone) or is not answering: not on the tray any more.
            Err(e) => eprintln!(
                "notify-capture: tray item {}{} unreadable: {e}",
                address.bus_name, address.path
            ),
        }
    }
    out
}

async fn read_item(bus: &zbus::Connection, address: &ItemAddress) -> zbus::Result<TrayItem> {
    let reply = bus
        .call_method(
            Some(address.bus_name.as_str()),
            address.path.as_str(),
            Some("org.freedesktop.DBus.Properties"),
            "GetAll",
            &(ITEM_IFACE,),
        )
        .await?;
    let props: HashMap<String, OwnedValue> = reply.body().deserialize()?;
    let text = |key: &str| props.get(key).map(|v| value_text(v)).unwrap_or_default();
    let menu_path = props
        .get("Menu")
        .and_then(|v| OwnedObjectPath::try_from(v.try_clone().ok()?).ok());
    let menu = match &menu_path {
        Some(path) => read_menu(bus, &address.bus_name, path.as_str()).await?,
        None => Vec::new(),
    };
    Ok(TrayItem {
        bus_name: address.bus_name.clone(),
        path: address.path.clone(),
        id: text("Id"),
        title: text("Title"),
        status: text("Status"),
        icon_name: text("IconName"),
        label: text("XAyatanaLabel"),
        menu_path: menu_path.map(|p| p.to_string()),
        menu,
    })
}

type Layout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

async fn read_menu(
    bus: &zbus::Connection,
    bus_name: &str,
    path: &str,
) -> zbus::Result<Vec<MenuEntry>> {
    let reply = bus
        .call_method(
            Some(bus_name),
            path,
            Some(MENU_IFACE),
            "GetLayout",
            &(0i32, -1i32, Vec::<String>::new()),
        )
        .await?;
    let (_revision, (_id, _props, children)): (u32, Layout) = reply.body().deserialize()?;
    let mut out = Vec::new();
    for child in &children {
        flatten(child, &mut out);
    }
    Ok(out)
}

fn flatten(node: &Value<'_>, out: &mut Vec<MenuEntry>) {
    let node = match node {
        Value::Value(inner) => inner.as_ref(),
        other => other,
    };
    let Value::Structure(s) = node else { return };
    let fields = s.fields();
    let (Some(Value::I32(id)), Some(Value::Dict(props))) = (fields.first(), fields.get(1)) else {
        return;
    };
    let props: HashMap<String, OwnedValue> = props
        .try_clone()
        .ok()
        .and_then(|d| HashMap::try_from(d).ok())
        .unwrap_or_default();
    let get = |key: &str| props.get(key).map(|v| value_text(v));
    let toggle = get("toggle-type").unwrap_or_default();
    out.push(MenuEntry {
        id: *id,
        label: get("label").unwrap_or_default().replace('_', ""),
        kind: get("type").unwrap_or_else(|| "standard".into()),
        enabled: get("enabled").is_none_or(|v| v != "false"),
        visible: get("visible").is_none_or(|v| v != "false"),
        checked: (toggle == "checkmark").then(|| get("toggle-state").as_deref() == Some("1")),
    });
    if let Some(Value::Array(children)) = fields.get(2) {
        for child in children.iter() {
            flatten(child, out);
        }
    }
}

/// Clicks menu entry `id` of whichever registered item has it, as a tray host does for a
/// user's click; answers the entry's label.
pub async fn click(bus: &zbus::Connection, registry: &Registry, id: i32) -> zbus::Result<String> {
    for address in registry.addresses() {
        let Ok(item) = read_item(bus, &address).await else {
            continue;
        };
        let (Some(entry), Some(menu_path)) =
            (item.menu.iter().find(|e| e.id == id), &item.menu_path)
        else {
            continue;
        };
        bus.call_method(
            Some(address.bus_name.as_str()),
            menu_path.as_str(),
            Some(MENU_IFACE),
            "Event",
            &(id, "clicked", Value::I32(0), 0u32),
        )
        .await?;
        return Ok(entry.label.clone());
    }
    Err(zbus::Error::Failure(format!("no tray menu entry {id}")))
}

fn value_text(value: &Value<'_>) -> String {
    match value {
        Value::Str(s) => s.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::I32(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::ObjectPath(p) => p.to_string(),
        Value::Value(inner) => value_text(inner),
        other => format!("{other:?}"),
    }
}
