/**
 * A kernel handler that fails answers `error` with the request's id: the
 * waiting request ends at once with that message instead of timing out.
 */
import { Signal } from '@lumino/signaling';

import { request } from '../requests';

function failingLink() {
  const owner = {};
  const link = {
    state: 'connected',
    stateChanged: new Signal(owner),
    messageReceived: new Signal<any, any>(owner),
    send: (type: string, payload: { request_id: string }) => {
      setTimeout(() =>
        link.messageReceived.emit({
          protocol: '1.6',
          type: 'error',
          payload: { message: 'KeyError: boom', in_reply_to: type, request_id: payload.request_id }
        })
      );
      return true;
    }
  };
  return link;
}

describe('request', () => {
  it('rejects with the error the kernel sent for this request', async () => {
    const started = Date.now();
    await expect(request(failingLink() as any, 'runs', {} as any, 5000)).rejects.toThrow(
      'KeyError: boom'
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("ignores another request's error", async () => {
    const link = failingLink();
    const send = link.send;
    link.send = (type, payload) => send(type, { ...payload, request_id: 'other' });
    await expect(request(link as any, 'runs', {} as any, 200)).rejects.toThrow('did not answer');
  });
});
