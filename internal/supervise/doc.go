// Package supervise runs a project's app for `stackctl serve`: it builds
// it (app.build), starts app.command with PORT and HOST set (app.env and the
// project's .env on top), one copy per replica, each in its own process
// group; waits until each answers its health path; restarts a copy that
// exits, with capped exponential backoff; rebuilds and replaces the app when
// its files change, without dropping a request; and stops everything,
// grandchildren included, on shutdown.
//
// The package knows nothing of the proxy: it reports the addresses that are
// ready to take requests through Options.OnReady, which serve connects to
// the proxy's upstream list.
//
// # Reloading
//
// A change (files under app.watch, or Reload, or Update with new app
// settings) rebuilds the app and starts a new copy of every replica on fresh
// ports above app.port+replicas. Only once all of them are ready does
// OnReady switch to them; then the old copies get DrainDelay to finish the
// requests already sent to them and are stopped gracefully. A failed build,
// or a new version that exits or is not ready within ReadyTimeout, leaves
// the old version serving, and the reason is printed.
//
// # Crashes
//
// A copy that exits on its own is reported with its exit status, taken out
// of the ready addresses, and started again on the same port after a delay
// that doubles from Backoff.Min up to Backoff.Max. CrashLoop exits in a row,
// each within QuickExit of starting, are reported once as a crash loop;
// serve keeps trying every Backoff.Retry after that, and any change to the
// app's files tries at once. The app is not rebuilt for these restarts:
// nothing changed.
//
// # Processes
//
// Processes runs stack.toml's [processes] beside the app: count copies of
// each, under /bin/sh -c (with exec when the command is a simple one, so
// the program itself is the process started), with the app's environment,
// each in a process group of its own. A copy that exits starts again with
// the same Backoff, counted per copy; the others go on. serve restarts the
// group with each new version of the app (Options.OnNewVersion); a group
// running without the app watches app.watch itself. Stopping a copy is
// SIGTERM to its group, then SIGKILL after its stop_timeout.
package supervise
