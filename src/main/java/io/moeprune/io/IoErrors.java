package io.moeprune.io;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * The part of an I/O error a user can act on, for a one-line message: "No space left on device", not
 * "java.nio.file.FileSystemException: /out/.x.moeprune-staging-…/model.partial: No space left on device" (which
 * names a temporary file the user never asked for and that is gone by the time they read it).
 */
public final class IoErrors {
    private IoErrors() {
    }

    /** The reason only, without the class name and without the file (the caller names the file the user gave). */
    public static String reason(IOException e) {
        if (e instanceof FileSystemException fse) {
            if (fse.getReason() != null && !fse.getReason().isBlank()) return firstLine(fse.getReason());
            return switch (fse) {
                case NoSuchFileException x -> "no such file or directory";
                case AccessDeniedException x -> "permission denied";
                case FileAlreadyExistsException x -> "already exists";
                case DirectoryNotEmptyException x -> "directory not empty";
                case NotDirectoryException x -> "not a directory";
                default -> "file system error";
            };
        }
        String m = e.getMessage() == null ? "" : firstLine(e.getMessage());
        return m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    /** "FILE: reason" when the error names its file, else the reason. */
    public static String withFile(IOException e) {
        return e instanceof FileSystemException fse && fse.getFile() != null ? fse.getFile() + ": " + reason(e) : reason(e);
    }

    private static String firstLine(String s) {
        return s.lines().findFirst().orElse("").strip();
    }
}
