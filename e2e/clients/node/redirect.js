// Preloaded (node --require) before Blitline's Node client, which it leaves
// unmodified: the client dials https://api.blitline.com:443 with no way to
// name another server, so requests for Blitline's hosts go to the test's TLS
// server instead (VIDJOB_TLS_PORT on 127.0.0.1). The test's certificate is
// trusted through NODE_EXTRA_CA_CERTS, so TLS is verified as the client asks.
'use strict';
const https = require('https');

const blitlineHosts = new Set(['api.blitline.com', 'cache.blitline.com']);
const port = Number(process.env.VIDJOB_TLS_PORT);
if (!port) {
  throw new Error('redirect.js: VIDJOB_TLS_PORT is not set');
}

function redirect(options) {
  if (options && typeof options === 'object' && blitlineHosts.has(options.host || options.hostname)) {
    const copy = Object.assign({}, options, { host: '127.0.0.1', port: port });
    delete copy.hostname;
    return copy;
  }
  return options;
}

// The client builds its own Agent from the same options, and an Agent's
// options take precedence over the request's: redirect both.
const Agent = https.Agent;
https.Agent = class extends Agent {
  constructor(options) {
    super(redirect(options));
  }
};

const request = https.request;
https.request = function (options, ...rest) {
  return request.call(this, redirect(options), ...rest);
};
https.get = function (options, ...rest) {
  const req = https.request(options, ...rest);
  req.end();
  return req;
};
