def main():
    print("sparcc 0.1.0")
