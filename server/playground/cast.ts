// The playground's demo users, shared by the page (login list) and the server (tokens, roster).
import type { Role } from '../../docs-model/types.ts'

export const DEMO_USERS: ReadonlyArray<{ id: string; name: string; role: Role }> = [
  { id: 't1', name: 'Ms. Rivera', role: 'teacher' },
  { id: 'u1', name: 'Ada', role: 'student' },
  { id: 'u2', name: 'Ben', role: 'student' },
  { id: 'pr1', name: 'Mr. Okafor', role: 'proctor' },
  { id: 'a1', name: 'Principal Lee', role: 'admin' },
  { id: 'd1', name: 'Sam', role: 'driver' },
  { id: 'p1', name: 'Ada’s dad', role: 'parent' },
]
