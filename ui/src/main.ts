import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { ipc } from './lib/ipc';

const target = document.getElementById('app');
if (!target) throw new Error('no #app element');

const app = mount(App, { target });

// The shell keeps the window hidden until the first view is in the page, so that the window
// never shows blank while WebKit starts. Not after an animation frame: a hidden window gets none.
void ipc.windowReady().catch(() => {});

export default app;
