// idb's wrap() recognises requests by the global IDB classes: give Node fake-indexeddb's.
import 'fake-indexeddb/auto';
