export { CollaborationPanel } from '../../../../demo/src/components/CollaborationPanel.js';
