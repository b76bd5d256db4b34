import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { ipc } from './lib/ipc';

const target = document.getElementById('app');
if (!target) throw new Error('no #app element');

const app = mount(App, { target });

// The shell keeps the window hidden until this first frame is on screen (two animation frames:
// the one that lays it out and the one that paints it), so the window never shows blank.
requestAnimationFrame(() => requestAnimationFrame(() => void ipc.windowPainted().catch(() => {})));

export default app;
