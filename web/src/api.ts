// The HTTP API. The session rides on the HttpOnly cookie set at sign-in, so no token is kept in script.
import type { ErrorBody } from './wire';

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/api/v1${path}`, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const err = (data as ErrorBody | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? 'unknown', err?.message ?? `The server answered ${res.status}.`);
  }
  return data as T;
}

export const get = <T,>(path: string) => api<T>('GET', path);
export const post = <T,>(path: string, body?: unknown) => api<T>('POST', path, body);
export const del = <T,>(path: string) => api<T>('DELETE', path);
export const patch = <T,>(path: string, body?: unknown) => api<T>('PATCH', path, body);
export const put = <T,>(path: string, body?: unknown) => api<T>('PUT', path, body);
