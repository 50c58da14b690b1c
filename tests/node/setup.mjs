// What every script here starts with: its settings from the environment, and the official
// client pointed at the Threadline under test.
import OpenAI from 'openai';

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing environment variable ${name}`);
  return value;
};

export const makeClient = () =>
  new OpenAI({
    baseURL: env('THREADLINE_BASE_URL'),
    apiKey: env('THREADLINE_API_KEY'),
    maxRetries: 0,
    timeout: 30_000,
  });
