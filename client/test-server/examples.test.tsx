/// <reference types="node" />
// The seed's three usage examples (examples/seed, the seed's text with its
// module paths mapped to this package) rendered against the real server.
import { cleanup, fireEvent, render } from '@testing-library/react';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWebSocketClient } from '../src/index.js';
import OrderEditor from '../examples/seed/OrderEditor.js';
import LiveDashboard from '../examples/seed/LiveDashboard.js';
import ProductPage from '../examples/seed/ProductPage.js';
import { startLocalServer, until, type LocalServer } from './server.js';

let server: LocalServer;

beforeAll(async () => {
  server = await startLocalServer();
});
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  cleanup();
});

/**
 * Renders `ui` as the examples run in a browser: their URL comes from
 * NEXT_PUBLIC_WS_URL, here the test server without an identity, so each
 * render connects as its own anonymous development user (the server, not
 * the props, decides who a connection is).
 */
function renderPage(ui: React.ReactElement) {
  process.env['NEXT_PUBLIC_WS_URL'] = server.wsUrl;
  return render(ui);
}

describe("the seed's examples, as written", () => {
  it('Example 1: real-time order editing shows the lock to the other user', async () => {
    const ann = renderPage(<OrderEditor orderId="ex-1" userId="ann" username="Ann" />);
    const bob = renderPage(<OrderEditor orderId="ex-1" userId="bob" username="Bob" />);
    // Both see two collaborators.
    const rows = (r: ReturnType<typeof render>) => r.container.querySelectorAll('[data-testid=presence-list] li').length;
    await until(() => rows(ann) === 2 && rows(bob) === 2, 10_000, 'collaborators');
    const start = await until(() => ann.container.querySelector('[data-testid=acquire-lock]'), 10_000, 'start editing button');
    fireEvent.click(start);
    await until(() => ann.container.textContent?.includes('You are editing this order'), 10_000, 'own lock');
    await until(() => /This order is locked by anon-/.test(bob.container.textContent ?? ''), 10_000, "the example's lock alert");
  });

  it('Example 2: the live activity dashboard shows activity as it happens', async () => {
    const dash = renderPage(<LiveDashboard userId="ann" username="Ann" />);
    await until(() => dash.container.querySelectorAll('[data-testid=presence-list] li').length > 0, 10_000, 'presence');
    const bob = createWebSocketClient({ url: `${server.wsUrl}?userId=bob&username=Bob`, WebSocketImpl: WebSocket });
    bob.connect();
    try {
      // Wait until the dashboard is subscribed, then record a view.
      await until(() => dash.container.querySelector('[data-testid=presence-list]') !== null, 10_000, 'dashboard');
      for (let i = 0; i < 20 && !dash.container.textContent?.includes('Order #ex-2'); i++) {
        await bob.request('activity', { payload: { action: 'viewed', entity: { type: 'order', id: 'ex-2', name: 'Order #ex-2' } } });
        await until(() => true);
        await new Promise((r) => setTimeout(r, 150));
      }
      await until(() => dash.container.textContent?.includes('Order #ex-2'), 10_000, 'the activity entry');
      expect(dash.container.textContent).toContain('Bob');
    } finally {
      bob.destroy();
    }
  });

  it('Example 3: product page presence counts the people viewing', async () => {
    const ann = renderPage(<ProductPage productId="p-3" userId="ann" username="Ann" />);
    await until(() => ann.container.textContent?.includes('1 person viewing'), 10_000, 'one viewer');
    const bob = renderPage(<ProductPage productId="p-3" userId="bob" username="Bob" />);
    await until(() => ann.container.textContent?.includes('2 people viewing'), 10_000, 'two viewers (Ann)');
    await until(() => bob.container.textContent?.includes('2 people viewing'), 10_000, 'two viewers (Bob)');
    bob.unmount();
    await until(() => ann.container.textContent?.includes('1 person viewing'), 10_000, 'back to one');
  });
});
