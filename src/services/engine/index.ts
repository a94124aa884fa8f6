export { Engine, type EngineDeps } from './engine';
