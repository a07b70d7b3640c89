/** Settings edited and not applied yet (kept across screens until Apply or Discard, lost with the page). */
let unsaved = 0;

export function setUnsavedEdits(count: number): void {
  unsaved = count;
}

/**
 * While edits wait, a reload or closing the tab asks first (the browser's own "Leave site?"), as they would be
 * lost. Not in the desktop shell: there a page that refuses to unload keeps its window from closing, without asking.
 */
export function guardUnsavedEdits(target: Pick<Window, 'addEventListener' | 'removeEventListener'>): () => void {
  const onBeforeUnload = (event: BeforeUnloadEvent) => {
    if (unsaved === 0) return;
    event.preventDefault();
    // older engines ask only when returnValue is set
    event.returnValue = '';
  };
  target.addEventListener('beforeunload', onBeforeUnload);
  return () => target.removeEventListener('beforeunload', onBeforeUnload);
}
