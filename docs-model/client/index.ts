// Homeroom's browser client: sessions, documents with offline copies and recovery, typed surfaces.
export { Session, Handle, NotAllowed, differingPaths, type ConnectionState, type Recovery, type SessionOptions } from './session.ts'
export { identityFromToken } from './identity.ts'
export { PollClient } from '../surfaces/poll/client.ts'
export {
  ChatClient,
  ExamClient,
  MonitorClient,
  BusClient,
  EmergencyClient,
  InboxClient,
  BoardClient,
  DocClient,
  ClassClient,
  GroupClient,
  type ActivityState,
  type BoardElement,
  type DocComment,
  type ExamAlert,
  type ExamEventType,
  type ExamQuestion,
  type MonitorStudent,
} from './surfaces.ts'
