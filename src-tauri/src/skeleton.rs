//! The window's first frames: the page's own layout, drawn by the toolkit until the web view
//! has painted.
//!
//! Why: WebKitGTK lays out and paints a page only once its window is shown, and its first frame
//! comes a hundred milliseconds or more after that (measured by `bench/app`). Until then the web
//! view is transparent and the window showed GTK's grey: a blank window at every start.
//!
//! Rules:
//! - The UI sends the skeleton of its first view with `window_ready` (its background and main
//!   boxes, as laid out in the page, which is laid out before the window is shown); the shell
//!   draws it as the CSS background of the box that holds the web view (the web view's own
//!   area, whatever decorations the window has), then shows the window.
//! - The page covers it with its first frame; the UI then says `window_painted` and the
//!   skeleton is taken away (a resize must not show yesterday's boxes under a page that does
//!   not cover them yet).
//! - Bad input is refused before anything is drawn: at most [`MAX_BOXES`] boxes, finite
//!   coordinates within [`MAX_COORDINATE`]. The CSS is built from numbers only.

use deskbell_client::app::{Rgb, WindowSkeleton};

/// At most this many boxes (a top bar and a board's lanes; more would be a bug).
pub const MAX_BOXES: usize = 64;
/// Coordinates and sizes beyond this many CSS pixels are refused.
pub const MAX_COORDINATE: f64 = 100_000.0;

/// Why a skeleton was refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum SkeletonError {
    #[error("a window skeleton has at most {MAX_BOXES} boxes, not {0}")]
    TooManyBoxes(usize),
    #[error("box {index} of the window skeleton is out of range ({what} is {value})")]
    OutOfRange {
        index: usize,
        what: &'static str,
        value: f64,
    },
}

fn css_color(c: Rgb) -> String {
    format!("rgb({},{},{})", c.r, c.g, c.b)
}

/// The GTK CSS that draws `skeleton` as the background of the web view's box.
pub fn css(skeleton: &WindowSkeleton) -> Result<String, SkeletonError> {
    if skeleton.boxes.len() > MAX_BOXES {
        return Err(SkeletonError::TooManyBoxes(skeleton.boxes.len()));
    }
    let mut images = Vec::new();
    let mut sizes = Vec::new();
    let mut positions = Vec::new();
    // CSS draws the first background layer on top: the boxes are given in drawing order.
    for (index, b) in skeleton.boxes.iter().enumerate().rev() {
        for (what, value) in [
            ("x", b.x),
            ("y", b.y),
            ("width", b.width),
            ("height", b.height),
        ] {
            if !value.is_finite() || value.abs() > MAX_COORDINATE {
                return Err(SkeletonError::OutOfRange { index, what, value });
            }
        }
        if b.width <= 0.0 || b.height <= 0.0 {
            continue;
        }
        let color = css_color(b.color);
        images.push(format!("linear-gradient({color},{color})"));
        sizes.push(format!("{:.0}px {:.0}px", b.width, b.height));
        positions.push(format!("{:.0}px {:.0}px", b.x, b.y));
    }
    let mut out = format!(
        "box {{ background-color: {};",
        css_color(skeleton.background)
    );
    if !images.is_empty() {
        out.push_str(&format!(
            " background-image: {}; background-size: {}; background-position: {}; background-repeat: no-repeat;",
            images.join(", "),
            sizes.join(", "),
            positions.join(", ")
        ));
    }
    out.push_str(" }");
    Ok(out)
}

#[cfg(target_os = "linux")]
mod gtk_skeleton {
    use gtk::prelude::*;
    use std::cell::RefCell;

    thread_local! {
        // GTK objects live on the main thread; so does the provider drawing the skeleton.
        static SHOWN: RefCell<Option<(gtk::Box, gtk::CssProvider)>> = const { RefCell::new(None) };
    }

    /// Draws `css` under the web view (main thread).
    pub fn draw(vbox: gtk::Box, css: &str) {
        let provider = gtk::CssProvider::new();
        if let Err(e) = provider.load_from_data(css.as_bytes()) {
            tracing::warn!("the window skeleton's CSS was refused: {e}");
            return;
        }
        vbox.style_context()
            .add_provider(&provider, gtk::STYLE_PROVIDER_PRIORITY_APPLICATION);
        clear();
        SHOWN.with(|shown| *shown.borrow_mut() = Some((vbox, provider)));
    }

    /// Takes the skeleton away (main thread).
    pub fn clear() {
        SHOWN.with(|shown| {
            if let Some((vbox, provider)) = shown.borrow_mut().take() {
                vbox.style_context().remove_provider(&provider);
            }
        });
    }
}

/// Draws the skeleton in `window` (under its web view) until [`clear`].
pub fn draw(window: &tauri::WebviewWindow, skeleton: &WindowSkeleton) -> Result<(), SkeletonError> {
    let css = css(skeleton)?;
    #[cfg(target_os = "linux")]
    {
        let target = window.clone();
        let _ = window.run_on_main_thread(move || match target.default_vbox() {
            Ok(vbox) => gtk_skeleton::draw(vbox, &css),
            Err(e) => tracing::warn!("no box to draw the window skeleton in: {e}"),
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (window, css);
    Ok(())
}

/// Takes the skeleton away (the page has painted over it).
pub fn clear(window: &tauri::WebviewWindow) {
    #[cfg(target_os = "linux")]
    let _ = window.run_on_main_thread(gtk_skeleton::clear);
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}

#[cfg(test)]
mod tests {
    use super::*;
    use deskbell_client::app::SkeletonBox;

    const BG: Rgb = Rgb {
        r: 243,
        g: 244,
        b: 247,
    };
    const WHITE: Rgb = Rgb {
        r: 255,
        g: 255,
        b: 255,
    };

    fn boxed(x: f64, y: f64, width: f64, height: f64, color: Rgb) -> SkeletonBox {
        SkeletonBox {
            x,
            y,
            width,
            height,
            color,
        }
    }

    #[test]
    fn boxes_become_background_layers_first_drawn_last() {
        let css = css(&WindowSkeleton {
            background: BG,
            boxes: vec![
                boxed(0.0, 0.0, 1200.0, 52.5, WHITE),
                boxed(16.0, 64.0, 288.0, 700.0, BG),
            ],
        })
        .unwrap();
        assert_eq!(
            css,
            "box { background-color: rgb(243,244,247); background-image: \
             linear-gradient(rgb(243,244,247),rgb(243,244,247)), \
             linear-gradient(rgb(255,255,255),rgb(255,255,255)); \
             background-size: 288px 700px, 1200px 52px; \
             background-position: 16px 64px, 0px 0px; background-repeat: no-repeat; }"
        );
    }

    #[test]
    fn no_boxes_is_the_background_alone_and_empty_boxes_are_left_out() {
        let css = css(&WindowSkeleton {
            background: WHITE,
            boxes: vec![boxed(10.0, 10.0, 0.0, 40.0, BG)],
        })
        .unwrap();
        assert_eq!(css, "box { background-color: rgb(255,255,255); }");
    }

    #[test]
    fn bad_skeletons_are_refused() {
        let many = WindowSkeleton {
            background: BG,
            boxes: (0..=MAX_BOXES)
                .map(|i| boxed(i as f64, 0.0, 1.0, 1.0, BG))
                .collect(),
        };
        assert_eq!(css(&many), Err(SkeletonError::TooManyBoxes(MAX_BOXES + 1)));
        let nan = WindowSkeleton {
            background: BG,
            boxes: vec![boxed(0.0, f64::NAN, 1.0, 1.0, BG)],
        };
        assert!(matches!(
            css(&nan),
            Err(SkeletonError::OutOfRange {
                index: 0,
                what: "y",
                ..
            })
        ));
        let huge = WindowSkeleton {
            background: BG,
            boxes: vec![boxed(0.0, 0.0, 1.0, 1.0, BG), boxed(0.0, 0.0, 1e9, 1.0, BG)],
        };
        assert!(matches!(
            css(&huge),
            Err(SkeletonError::OutOfRange {
                index: 1,
                what: "width",
                ..
            })
        ));
    }
}
