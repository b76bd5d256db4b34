//! WebKit's accelerated compositing is right with a GPU and wasteful without one: with no GPU
//! it renders through Mesa's software rasterizer (llvmpipe), which here cost ~165 MB more in the
//! web process and more CPU per frame than letting WebKit paint on the CPU directly. So when
//! rendering would be done in software — and only then — the app turns compositing off
//! (`WEBKIT_DISABLE_COMPOSITING_MODE=1`) before WebKit starts.
//!
//! Rendering is in software when no GPU render node (`/dev/dri/renderD*`) can be opened, or
//! when Mesa is told to (`LIBGL_ALWAYS_SOFTWARE`). `DESKBELL_COMPOSITING=on|off` decides instead,
//! and a `WEBKIT_DISABLE_COMPOSITING_MODE` already set is left as it is.

/// What the environment says, as read at start.
pub struct Environment {
    pub deskbell_compositing: Option<String>,
    pub webkit_disable_compositing: Option<String>,
    pub libgl_always_software: Option<String>,
    /// Whether a GPU render node exists.
    pub gpu_render_node: bool,
}

/// Whether to turn WebKit's compositing off, and why (for the log).
pub fn compositing_off(env: &Environment) -> Option<&'static str> {
    if env.webkit_disable_compositing.is_some() {
        return None; // already decided by whoever started the app
    }
    match env.deskbell_compositing.as_deref().map(str::trim) {
        Some("off") => return Some("DESKBELL_COMPOSITING=off"),
        Some("on") => return None,
        _ => {}
    }
    if env
        .libgl_always_software
        .as_deref()
        .is_some_and(|v| !v.is_empty() && v != "0")
    {
        return Some("LIBGL_ALWAYS_SOFTWARE is set: rendering is in software");
    }
    if !env.gpu_render_node {
        return Some("no GPU render node (/dev/dri/renderD*): rendering would be in software");
    }
    None
}

impl Environment {
    pub fn read() -> Environment {
        let var = |name: &str| std::env::var(name).ok();
        let gpu_render_node = std::fs::read_dir("/dev/dri")
            .map(|entries| {
                entries.flatten().any(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with("renderD"))
                })
            })
            .unwrap_or(false);
        Environment {
            deskbell_compositing: var("DESKBELL_COMPOSITING"),
            webkit_disable_compositing: var("WEBKIT_DISABLE_COMPOSITING_MODE"),
            libgl_always_software: var("LIBGL_ALWAYS_SOFTWARE"),
            gpu_render_node,
        }
    }
}

/// Turns compositing off when rendering would be in software. Call first thing in `main`,
/// before any thread starts (it sets an environment variable WebKit reads).
pub fn choose() {
    if !cfg!(target_os = "linux") {
        return;
    }
    if let Some(why) = compositing_off(&Environment::read()) {
        std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
        tracing::info!(why, "WebKit compositing off");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(gpu: bool) -> Environment {
        Environment {
            deskbell_compositing: None,
            webkit_disable_compositing: None,
            libgl_always_software: None,
            gpu_render_node: gpu,
        }
    }

    #[test]
    fn off_only_when_rendering_would_be_in_software() {
        assert_eq!(compositing_off(&env(true)), None, "a GPU: WebKit's default");
        assert!(compositing_off(&env(false)).is_some(), "no GPU");
        let software = Environment {
            libgl_always_software: Some("1".into()),
            ..env(true)
        };
        assert!(compositing_off(&software).is_some());
        let not_software = Environment {
            libgl_always_software: Some("0".into()),
            ..env(true)
        };
        assert_eq!(compositing_off(&not_software), None);
    }

    #[test]
    fn the_user_and_the_caller_decide_first() {
        let forced_on = Environment {
            deskbell_compositing: Some("on".into()),
            ..env(false)
        };
        assert_eq!(compositing_off(&forced_on), None);
        let forced_off = Environment {
            deskbell_compositing: Some("off".into()),
            ..env(true)
        };
        assert!(compositing_off(&forced_off).is_some());
        let already = Environment {
            webkit_disable_compositing: Some("0".into()),
            ..env(false)
        };
        assert_eq!(compositing_off(&already), None, "left as the caller set it");
    }
}
