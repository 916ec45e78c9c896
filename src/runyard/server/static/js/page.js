// The page's lifetime: each view the router shows gets a Scope. Leaving the view aborts the scope's requests still
// in flight and runs its clean-ups (timers, event streams, charts). A view that is still loading when the user
// moves on must not hold the browser's few connections to the server: the next view's requests would queue
// behind its leftovers and a live page would stall.
export class Scope {
  constructor() {
    this.alive = true;
    this.controller = new AbortController();
    this.cleanups = [];
  }

  get signal() { return this.controller.signal; }

  // run `fn` when the view is left; at once if it already was
  add(fn) {
    if (this.alive) this.cleanups.push(fn);
    else fn();
  }

  // a timer that ends with the view
  later(fn, ms) {
    const timer = setTimeout(() => { if (this.alive) fn(); }, ms);
    this.add(() => clearTimeout(timer));
  }

  leave() {
    this.alive = false;
    this.controller.abort();
    this.cleanups.splice(0).forEach((fn) => { try { fn(); } catch (e) { /* already gone */ } });
  }
}

let current = new Scope();

export function scope() { return current; }

export function nextScope() {
  current.leave();
  current = new Scope();
  return current;
}

export const view = () => document.getElementById("view");

// resolves once the browser could paint what is drawn so far (in a hidden tab, where frames stop: after 100 ms)
export const afterPaint = () => new Promise((resolve) => {
  const timer = setTimeout(resolve, 100);
  requestAnimationFrame(() => setTimeout(() => { clearTimeout(timer); resolve(); }, 0));
});

// showing the current address again (after a change the view makes itself): through the router, in a new scope
let render = async () => {};
export function setRenderer(fn) { render = fn; }
export const refresh = () => render();
