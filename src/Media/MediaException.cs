namespace OspBridge.Media;

/// <summary>What went wrong in a media source, a container parser or the fan-out.</summary>
public enum MediaError
{
    /// <summary>The input is not valid for its format (Annex B, Ogg, RTSP, SDP).</summary>
    MalformedInput,

    /// <summary>A size or count limit was exceeded (access unit, Ogg packet, RTSP header section or body).</summary>
    LimitExceeded,

    /// <summary>The source URI is not one of <c>test</c>, <c>exec:</c>, <c>rtsp://</c>, or is malformed.</summary>
    UnsupportedSource,

    /// <summary>A child process could not be started or exited.</summary>
    ProcessFailed,

    /// <summary>The RTSP server answered with an error status.</summary>
    RtspStatus,

    /// <summary>The RTSP server asked for credentials that were missing or rejected.</summary>
    Unauthorized,

    /// <summary>The RTSP session description has no media we can carry (H.264 video, Opus/PCMU/PCMA audio).</summary>
    NoUsableMedia,

    /// <summary>The connection to the source was lost or timed out.</summary>
    ConnectionLost,
}

/// <summary>The one exception type of OspBridge.Media; <see cref="Error"/> says what failed.</summary>
public sealed class MediaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MediaException(MediaError error, string message, Exception? innerException = null)
        : base(message, innerException) => Error = error;

    /// <summary>Creates the exception with a generic message.</summary>
    public MediaException()
        : this(MediaError.MalformedInput, "media error")
    {
    }

    /// <summary>Creates the exception with <see cref="MediaError.MalformedInput"/>.</summary>
    public MediaException(string message)
        : this(MediaError.MalformedInput, message)
    {
    }

    /// <summary>Creates the exception with <see cref="MediaError.MalformedInput"/>.</summary>
    public MediaException(string message, Exception innerException)
        : this(MediaError.MalformedInput, message, innerException)
    {
    }

    /// <summary>What failed.</summary>
    public MediaError Error { get; }
}
