// Drives Blitline's Node client (simple_blitline_node) as its README shows,
// for e2e/node_client_test.go.
//   node --require ./redirect.js run.js submit < jobs.json
//     adds each job of the JSON array with addJob, calls postJobs and prints
//     the answer it resolves with.
//   node --require ./redirect.js run.js listen JOB_ID
//     waits on https://cache.blitline.com/listen/JOB_ID as a Node user does
//     (https.get, the body read whole, JSON.parse) and prints the results.
'use strict';
const https = require('https');
const Blitline = require('simple_blitline_node');

function submit() {
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { input += chunk; });
  process.stdin.on('end', () => {
    const blitline = new Blitline();
    for (const job of JSON.parse(input)) {
      blitline.addJob(job);
    }
    blitline.postJobs().then((answer) => {
      process.stdout.write(JSON.stringify(answer));
    }, (err) => {
      console.error(err);
      process.exit(1);
    });
  });
}

function listen(jobID) {
  https.get({ host: 'cache.blitline.com', port: 443, path: '/listen/' + jobID }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => { body += chunk; });
    res.on('end', () => {
      const answer = JSON.parse(body);
      process.stdout.write(JSON.stringify({ status: res.statusCode, leading_spaces: body.length - body.trimStart().length, results: answer.results }));
    });
  }).on('error', (err) => {
    console.error(err);
    process.exit(1);
  });
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'submit') {
  submit();
} else if (mode === 'listen') {
  listen(arg);
} else {
  console.error('usage: run.js submit | listen JOB_ID');
  process.exit(2);
}
