//! Build script of the desktop app: Tauri's own build step, plus a stand-in for the web UI when
//! it has not been built.
//!
//! `tauri::generate_context!` embeds `ui/dist` (`frontendDist`) and panics when it is missing,
//! which made a plain `cargo build --workspace` on a fresh checkout fail. The UI is built by npm
//! (`scripts/test.sh`, `scripts/run-demo.sh`, `bench/app/run.sh` and the packaging steps all
//! run `npm run build` before cargo); building it from here would need Node, the npm packages
//! and, for `npm ci`, the network, none of which a Rust build should require. So when
//! `ui/dist/index.html` is missing this script writes a placeholder page there that says how
//! to build the UI, and warns on every build that embeds it. A production build (`tauri build`,
//! which enables `tauri/custom-protocol`) refuses the placeholder outright, so a package
//! without the real UI cannot be made by mistake.

use std::path::{Path, PathBuf};

/// Marks the placeholder page, so that it is told apart from a real UI build.
const PLACEHOLDER_MARK: &str = "<meta name=\"deskbell-ui\" content=\"placeholder\">";

const BUILD_COMMAND: &str = "cd ui && npm ci --ignore-scripts && npm run build";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let dist = manifest_dir.join("../ui/dist");
    // A directory is watched as a whole: cargo reruns this script when a file in it changes,
    // appears or goes (`npm run build` replaces everything in it), or when it is missing.
    println!("cargo:rerun-if-changed={}", dist.display());

    let index = dist.join("index.html");
    if !index.exists() {
        write_placeholder(&dist, &index);
    }
    let placeholder = std::fs::read_to_string(&index)
        .map(|html| html.contains(PLACEHOLDER_MARK))
        .unwrap_or(false);

    tauri_build::build();

    if placeholder {
        if !tauri_build::is_dev() {
            eprintln!(
                "error: ui/dist holds the placeholder page, not the UI; a production build \
                 must embed the real UI: run `{BUILD_COMMAND}` first"
            );
            std::process::exit(1);
        }
        println!(
            "cargo:warning=the web UI was not built: this app shows a placeholder page; \
             run `{BUILD_COMMAND}`, then build again"
        );
    }
}

fn write_placeholder(dist: &Path, index: &Path) {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         {PLACEHOLDER_MARK}\n<title>Deskbell: UI not built</title>\n</head>\n\
         <body style=\"font-family: sans-serif; margin: 3em\">\n\
         <h1>The UI was not built</h1>\n\
         <p>This Deskbell was compiled without its web UI (<code>ui/dist</code> was missing), \
         so there is nothing to show here.</p>\n\
         <p>Build the UI, then the app again:</p>\n<pre>{command}\ncargo build -p deskbell</pre>\n\
         </body>\n</html>\n",
        command = BUILD_COMMAND.replace('&', "&amp;")
    );
    std::fs::create_dir_all(dist).expect("create ui/dist");
    std::fs::write(index, html).expect("write the placeholder ui/dist/index.html");
    // Cargo takes what it watches to have changed when it is newer than the start of this
    // script's run: the page and its directory, made just now, would make the next build run
    // this script and recompile the app once more for nothing. Dating them back to this
    // script's binary, built before the run began, keeps the next build fresh.
    if let Ok(built) = std::env::current_exe().and_then(|exe| exe.metadata()?.modified()) {
        for path in [index, dist] {
            let _ = std::fs::File::open(path).and_then(|f| f.set_modified(built));
        }
    }
}
