namespace OspBridge.Testing;

/// <summary>A fresh directory under the temp path for one test (state dirs, files written); deleted on dispose.</summary>
public sealed class TestDirectory : IDisposable
{
    /// <summary>Creates <c>{temp}/{prefix}-{random}</c>.</summary>
    public TestDirectory(string prefix)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    /// <summary>The directory.</summary>
    public string Path { get; }

    /// <summary>A path inside the directory.</summary>
    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
