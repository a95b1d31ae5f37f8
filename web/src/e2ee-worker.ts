// The encoded transforms of an end-to-end encrypted room (issue 34), in a worker as RTCRtpScriptTransform
// wants: the send side seals each Opus frame under this device's newest epoch (and drops it before the
// first key: nothing leaves in the clear); the receive side opens each frame under whichever epoch it was
// sealed in, and drops one it cannot open. The page posts each epoch's key as it takes it.
import { Receiver, Sender } from './e2ee';

interface EncodedFrame {
  data: ArrayBuffer;
}
interface TransformEvent extends Event {
  transformer: { readable: ReadableStream<EncodedFrame>; writable: WritableStream<EncodedFrame>; options: { side: 'send' | 'receive' } };
}

const receiver = new Receiver();
let sending: { epoch: number; sender: Sender } | undefined;
let me = 0;

self.onmessage = async (e: MessageEvent<{ type: 'epoch'; epoch: number; secret: Uint8Array; me: number }>) => {
  const { epoch, secret } = e.data;
  me = e.data.me;
  receiver.addEpoch({ epoch, secret });
  receiver.forgetBefore(epoch - 1);
  if (!sending || sending.epoch < epoch) sending = { epoch, sender: await Sender.create({ epoch, secret }, me) };
};

(self as unknown as { onrtctransform: (e: TransformEvent) => void }).onrtctransform = (event) => {
  const { readable, writable, options } = event.transformer;
  const seal = options.side === 'send';
  void readable
    .pipeThrough(new TransformStream<EncodedFrame, EncodedFrame>({
      async transform(frame, controller) {
        try {
          const data = new Uint8Array(frame.data);
          const out = seal ? await sending?.sender.seal(data) : await receiver.open(data);
          if (!out) return;
          frame.data = out.buffer as ArrayBuffer;
          controller.enqueue(frame);
        } catch {
          // Not ours to open (no key for its epoch, or altered): dropped, and the decoder conceals it.
        }
      },
    }))
    .pipeTo(writable);
};
