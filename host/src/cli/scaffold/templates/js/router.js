// {{name}}: an assay alert router, in JavaScript.
//
// Critical alerts go to the `pager` channel, warnings and errors to `chat`,
// and info alerts nowhere. Config: {"pager": "pager", "chat": "chat"} names
// the channels (`[[channel]]` entries of the host's config).

import { router, deliver, suppress, PluginError } from '@assay/plugin-sdk';

function channels(config) {
  const { pager = 'pager', chat = 'chat' } = config;
  if (typeof pager !== 'string' || typeof chat !== 'string') throw new PluginError('pager and chat: expected channel names');
  return { pager, chat };
}

export default router({
  prepare(config) {
    channels(config);
  },
  route(alert, config) {
    const { pager, chat } = channels(config);
    if (alert.severity === 'info') return suppress('info alerts notify no one');
    if (alert.severity === 'critical') return deliver(pager);
    return deliver(chat);
  },
});
