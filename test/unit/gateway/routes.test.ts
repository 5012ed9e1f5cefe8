import * as assert from 'node:assert/strict';
import { isInferencePath, modelIndex, requestedModel } from '../../../src/gateway/routes';
import { profileConfig } from '../engine/profile';

describe('gateway routes: which service a request is for', () => {
  it('reads the model from a JSON body, and names none for anything else', () => {
    assert.equal(requestedModel('application/json', Buffer.from('{"model":"chat-8b","messages":[]}')), 'chat-8b');
    assert.equal(requestedModel(undefined, Buffer.from('{"model":"chat-8b"}')), 'chat-8b');
    assert.equal(requestedModel('application/json', Buffer.from('{"messages":[]}')), undefined);
    assert.equal(requestedModel('application/json', Buffer.from('{"model":42}')), undefined);
    assert.equal(requestedModel('application/json', Buffer.from('["model"]')), undefined);
    assert.equal(requestedModel('application/json', Buffer.from('not json')), undefined);
    assert.equal(requestedModel('application/json', Buffer.from(JSON.stringify({ model: 'x'.repeat(600) }))), undefined);
  });

  it('reads the model field of a multipart form (the audio endpoints), wherever it is among the parts', () => {
    const b = 'XyZ123';
    const form = [`--${b}`, 'Content-Disposition: form-data; name="file"; filename="a.wav"', 'Content-Type: audio/wav', '', 'RIFF....model....', `--${b}`, 'Content-Disposition: form-data; name="model"', '', 'whisper-large', `--${b}--`, ''].join('\r\n');
    assert.equal(requestedModel(`multipart/form-data; boundary=${b}`, Buffer.from(form)), 'whisper-large');
    assert.equal(requestedModel(`multipart/form-data; boundary="${b}"`, Buffer.from(form)), 'whisper-large');
    assert.equal(requestedModel('multipart/form-data; boundary=other', Buffer.from(form)), undefined);
    assert.equal(requestedModel(`multipart/form-data; boundary=${b}`, Buffer.from(form.replace('name="model"', 'name="model_name"'))), undefined);
  });

  it('forwards the OpenAI-compatible inference paths only', () => {
    for (const p of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/rerank', '/rerank', '/v1/audio/transcriptions']) assert.ok(isInferencePath(p), p);
    for (const p of ['/v1/chat/completions/x', '/sleep', '/wake_up', '/v1/models', '/collective_rpc', '/v1']) assert.ok(!isInferencePath(p), p);
  });

  it('routes by the names the config gives first, then by learnt ones, never moving a configured name', () => {
    const config = profileConfig();
    config.services.get('vllm-chat')!.serves = ['chat'];
    const index = modelIndex(config, new Map([['vllm-hyde', ['hyde-small', 'chat']]]));
    assert.equal(index.get('chat')?.name, 'vllm-chat');
    assert.equal(index.get('hyde-small')?.name, 'vllm-hyde');
    assert.equal(index.get('GLM-4.5-Air-Q4')?.name, 'glm-code', 'a router model by its model name');
  });
});
