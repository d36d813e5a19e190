// Runs a github-script `script:` as actions/github-script does (an async function of
// github, context, core and require), against a fake pull request's comments.
//
// stdin: {script, env, context, comments: [{id, user: {login}, body}]}
// stdout: {comments, calls: [[method, params]], info}; a script that throws exits 1
'use strict';

const fs = require('fs');

const COMMENTS_PER_PAGE_DEFAULT = 30; // GitHub's, when per_page is not given

function fakeGithub(state) {
  const calls = [];
  let nextId = 1 + Math.max(0, ...state.comments.map((comment) => comment.id));
  const html = (id) => `https://github.example/pull/1#issuecomment-${id}`;
  const issues = {
    async listComments(params) {
      calls.push(['listComments', params]);
      const size = params.per_page || COMMENTS_PER_PAGE_DEFAULT;
      const start = ((params.page || 1) - 1) * size;
      const data = state.comments.slice(start, start + size).map((c) => ({ ...c, html_url: html(c.id) }));
      return { data };
    },
    async createComment(params) {
      calls.push(['createComment', params]);
      const comment = { id: nextId++, user: { login: 'github-actions[bot]', type: 'Bot' }, body: params.body };
      state.comments.push(comment);
      return { data: { ...comment, html_url: html(comment.id) } };
    },
    async updateComment(params) {
      calls.push(['updateComment', params]);
      const comment = state.comments.find((c) => c.id === params.comment_id);
      if (!comment) throw new Error(`no comment ${params.comment_id}`);
      comment.body = params.body;
      return { data: { ...comment, html_url: html(comment.id) } };
    },
  };
  // Octokit's paginate: follow pages until one comes back short.
  async function paginate(method, params) {
    const all = [];
    for (let page = 1; ; page += 1) {
      const { data } = await method({ ...params, page });
      all.push(...data);
      if (data.length < (params.per_page || COMMENTS_PER_PAGE_DEFAULT)) return all;
    }
  }
  return { github: { rest: { issues }, paginate }, calls };
}

async function main() {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  Object.assign(process.env, input.env);
  const state = { comments: input.comments };
  const { github, calls } = fakeGithub(state);
  const info = [];
  // Only what the script uses: a call to anything else throws, failing the test.
  const core = { info: (message) => info.push(message) };
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
  const run = new AsyncFunction('github', 'context', 'core', 'require', input.script);
  await run(github, input.context, core, require);
  process.stdout.write(JSON.stringify({ comments: state.comments, calls, info }));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
