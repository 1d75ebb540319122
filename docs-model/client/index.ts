// Homeroom's browser client: sessions, documents with offline copies and recovery, typed surfaces.
export { Session, Handle, NotAllowed, differingPaths, type ConnectionState, type Recovery, type SessionOptions } from './session.ts'
export { identityFromToken } from './identity.ts'
export { PollClient } from '../surfaces/poll/client.ts'
export { ExamClient, MonitorClient } from '../surfaces/exam/client.ts'
export { BusClient } from '../surfaces/bus/client.ts'
export { EmergencyClient } from '../surfaces/emergency/client.ts'
export { ChatClient, GroupClient } from '../surfaces/chat/client.ts'
export type { ExamAlert, ExamEventType, ExamQuestion, MonitorEntry as MonitorStudent } from '../surfaces/exam/surface.ts'
export {
  InboxClient,
  BoardClient,
  DocClient,
  ClassClient,
  type ActivityState,
  type BoardElement,
  type DocComment,
} from './surfaces.ts'
