// The todo app through harborsync/react: <SyncProvider> once, hooks everywhere below it.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { SyncProvider } from 'harborsync/react';
import kit from '../shared/kit.js';
import { App } from './App.js';
import { client, todos } from './todos.js';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <SyncProvider client={client}>
      <App />
    </SyncProvider>
  </StrictMode>,
);

// For the curious, in the console: demo.client.events$.subscribe(console.log)
Object.assign(window, { demo: { client, todos } });

void kit.enableOfflineReload();
