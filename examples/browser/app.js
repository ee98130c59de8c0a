// The page's script: builds a Message (with the picked file as a Blob
// attachment) and sends it with SMTPClient through the bridge.
import { Message, SMTPClient } from 'mimeograph';

const $ = (id) => document.getElementById(id);
const status = $('status');
const show = (text) => {
  status.textContent = text;
};

show('ready');
document.body.dataset.ready = 'true';

$('form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('send').disabled = true;
  show('sending…');
  try {
    const client = new SMTPClient({
      bridge: $('bridge').value,
      ssl: $('ssl').checked,
      user: $('user').value || undefined,
      password: $('password').value || undefined,
      // Through a ws:// bridge to a local server only; use wss:// and ssl otherwise.
      allowInsecureAuth: $('bridge').value.startsWith('ws://127.0.0.1'),
      domain: location.hostname || 'localhost',
      timeout: 10000,
    });
    const message = new Message({
      from: $('from').value,
      to: $('to').value,
      subject: $('subject').value,
      text: $('text').value,
    });
    const file = $('file').files[0];
    if (file) message.attach({ stream: file, name: file.name, type: file.type || 'application/octet-stream' });
    const sent = await client.sendAsync(message);
    client.smtp.close();
    show(`sent: ${sent.header['message-id']} — server said ${sent.sent?.reply?.code} ${sent.sent?.reply?.text ?? ''}`);
    document.body.dataset.result = 'sent';
  } catch (err) {
    show(`failed (${err.name} ${err.code}): ${err.message}`);
    document.body.dataset.result = 'failed';
  } finally {
    $('send').disabled = false;
  }
});
