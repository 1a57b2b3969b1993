// The todo app through harborsync/vue: app.use(harborSync(client)) once, composables in every
// component. Render functions (h), so no template compiler is needed at build or run time.
import { createApp } from 'vue';
import { harborSync } from 'harborsync/vue';
import kit from '../shared/kit.js';
import { App } from './App.js';
import { client, todos } from './todos.js';

createApp(App).use(harborSync(client)).mount('#root');

// For the curious, in the console: demo.client.events$.subscribe(console.log)
Object.assign(window, { demo: { client, todos } });

void kit.enableOfflineReload();
