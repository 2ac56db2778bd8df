package io.sluice.log.tools;

import io.sluice.log.internal.BatchScanner;

import java.io.IOException;

/**
 * A damaged region of a segment file found by a tool's walk, and where sound batches resume after it: the tools
 * report both so that an operator knows which offsets are lost and where to move a group to skip exactly them.
 *
 * @param position       byte position of the first damaged batch
 * @param firstOffset    its first offset (from its header if that is sound, else the offset after the last sound batch)
 * @param problem        what is wrong with it
 * @param torn           true if the bytes look cut short rather than changed
 * @param resumeOffset   first offset of the next sound batch in the file, or of the next segment; -1 if none
 * @param resumePosition byte position of that batch in the file, or -1 if it is not in this file
 *
 * <p>Immutable.
 */
record Damage(long position, long firstOffset, String problem, boolean torn, long resumeOffset,
              long resumePosition) {

    /**
     * Reads the damage {@code scan} stopped at and moves the walk to the next sound batch, if there is one in the
     * file (then {@code scan.next()} returns it).
     *
     * @param expected         the offset after the last sound batch before the damage
     * @param searchFrom       where to look for the next sound batch (after a batch whose CRCs held but whose records
     *                         do not decode, its end; otherwise {@link BatchScanner#damagedEnd()})
     * @param nextSegmentBase  the base offset of the next segment, or -1 for the last one
     */
    static Damage at(BatchScanner scan, long expected, long searchFrom, String problem, long nextSegmentBase)
            throws IOException {
        long headerBase = scan.damagedBaseOffset();
        long first = headerBase >= 0 ? headerBase : expected;
        long position = scan.position();
        boolean torn = scan.tornTail();
        long maxBase = nextSegmentBase >= 0 ? nextSegmentBase : Long.MAX_VALUE;
        if (scan.resync(searchFrom, first + 1, maxBase)) {
            return new Damage(position, first, problem, torn, scan.baseOffset(), scan.position());
        }
        return new Damage(position, first, problem, torn, nextSegmentBase, -1);
    }

    /** True if a sound batch follows in the same file. */
    boolean resumesInFile() {
        return resumePosition >= 0;
    }

    /** "readable batches resume at offset R (byte Q)", or where else they resume. */
    String resumeText() {
        if (resumePosition >= 0) {
            return "readable batches resume at offset " + resumeOffset + " (byte " + resumePosition + ")";
        }
        if (resumeOffset >= 0) {
            return "readable batches resume at offset " + resumeOffset + " (the start of the next segment)";
        }
        return "no readable batch follows it";
    }
}
